; Nothing that tree-sitter-typescript accepts is known to be rejected by engines for our purposes.
