; Placeholder statements, each a gap when it is the only statement of its block besides comments:
; `throw new Error(...)` (any message: "not implemented", "TODO", ...) and a lone TODO comment.

(throw_statement (new_expression constructor: (identifier) @_exc) (#eq? @_exc "Error")) @placeholder

((statement_block . (comment) @placeholder .)
  (#match? @placeholder "TODO|FIXME|XXX|[Ii]mplement"))
