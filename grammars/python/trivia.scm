; Statements that do nothing: a fill made only of these adds no code (a lone docstring, a
; comment, `pass`, `...`), so it is not offered for a body.
(expression_statement (string)) @trivia
(expression_statement (concatenated_string)) @trivia
(expression_statement (ellipsis)) @trivia
(pass_statement) @trivia
(comment) @trivia
