; Statements that add no code: comments, `;`, a lone string ("use strict"), a placeholder throw.
(comment) @trivia
(empty_statement) @trivia
(expression_statement (string)) @trivia
(throw_statement (new_expression constructor: (identifier) @_exc) (#eq? @_exc "Error")) @trivia
