(block) @block
