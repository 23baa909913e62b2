; Statements that add no code: comments, and a panic with only a message (the placeholder itself).
(comment) @trivia
(empty_statement) @trivia
(expression_statement
  (call_expression function: (identifier) @_fn arguments: (argument_list . (interpreted_string_literal) .))
  (#eq? @_fn "panic")) @trivia
