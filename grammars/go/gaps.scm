; Placeholder statements, each a gap when it is the only statement of its block besides comments:
; `panic(...)` with a string message (`panic("TODO")`, `panic("not implemented")`) and a lone TODO comment.

(expression_statement
  (call_expression function: (identifier) @_fn arguments: (argument_list . (interpreted_string_literal) .))
  (#eq? @_fn "panic")) @placeholder

((block . (comment) @placeholder .)
  (#match? @placeholder "TODO|FIXME|XXX|[Ii]mplement"))
