; Definitions other documents may call; @body is left out of the header (lsp/context.py).
(function_item name: (identifier) @name body: (block) @body) @definition
(struct_item name: (type_identifier) @name) @definition
(enum_item name: (type_identifier) @name) @definition
(trait_item name: (type_identifier) @name body: (declaration_list) @body) @definition
