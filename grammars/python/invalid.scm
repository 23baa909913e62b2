; Trees that tree-sitter accepts but Python rejects; lsp/syntax.py counts these as errors.
; An empty block: `def f():` with no body before the next dedent.
((block) @invalid (#eq? @invalid ""))
