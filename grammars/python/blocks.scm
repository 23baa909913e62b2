; Statement containers: a placeholder is a gap only when it is alone in one of these (besides trivia).
(block) @block
