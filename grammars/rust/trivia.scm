; Statements that add no code: comments, `;`, and the placeholder macros themselves.
(line_comment) @trivia
(block_comment) @trivia
(empty_statement) @trivia
(expression_statement (macro_invocation macro: (identifier) @_m) (#any-of? @_m "todo" "unimplemented")) @trivia
(block (macro_invocation macro: (identifier) @_m) @trivia (#any-of? @_m "todo" "unimplemented"))
