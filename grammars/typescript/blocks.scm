(statement_block) @block
