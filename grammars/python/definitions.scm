; Top-level and class-level definitions other documents may call: their headers go into a gap's
; context when the code near the gap names them (lsp/context.py). @body is left out of the header.
(function_definition name: (identifier) @name body: (block) @body) @definition
(class_definition name: (identifier) @name body: (block) @body) @definition
