; Definitions other documents may call; @body is left out of the header (lsp/context.py).
(function_declaration name: (identifier) @name body: (block) @body) @definition
(method_declaration name: (field_identifier) @name body: (block) @body) @definition
(type_spec name: (type_identifier) @name) @definition
