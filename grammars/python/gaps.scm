; Placeholder statements: `pass`, `...`, `raise NotImplementedError[(...)]`.
; A placeholder is a fillable gap when it is the only statement of its block besides a docstring
; and comments (checked in lsp/gaps.py), e.g. `def area(w, h):\n    """..."""\n    pass`.

(pass_statement) @placeholder

(expression_statement (ellipsis)) @placeholder

((raise_statement (identifier) @_exc) @placeholder
  (#eq? @_exc "NotImplementedError"))

((raise_statement (call function: (identifier) @_exc)) @placeholder
  (#eq? @_exc "NotImplementedError"))
