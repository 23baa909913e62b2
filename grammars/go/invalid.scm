; Nothing that tree-sitter-go accepts is known to be rejected by the compiler for our purposes.
