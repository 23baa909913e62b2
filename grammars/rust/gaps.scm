; Placeholder statements, each a gap when it is the only statement of its block besides comments:
; `todo!()` / `unimplemented!()` (as a statement or the block's tail expression) and a lone TODO comment.

(expression_statement (macro_invocation macro: (identifier) @_m) (#any-of? @_m "todo" "unimplemented")) @placeholder

(block (macro_invocation macro: (identifier) @_m) @placeholder (#any-of? @_m "todo" "unimplemented"))

((block . (line_comment) @placeholder .)
  (#match? @placeholder "TODO|FIXME|XXX|[Ii]mplement"))
