; Go wraps a block's statements in a statement_list.
(block) @block
(statement_list) @block
