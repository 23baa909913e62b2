; Nothing that tree-sitter-rust accepts is known to be rejected by rustc for our purposes.
