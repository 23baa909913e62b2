; Nothing that tree-sitter-javascript accepts is known to be rejected by engines for our purposes.
