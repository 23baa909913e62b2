; Definitions other documents may call; @body is left out of the header (lsp/context.py).
(function_declaration name: (identifier) @name body: (statement_block) @body) @definition
(class_declaration name: (type_identifier) @name body: (class_body) @body) @definition
(method_definition name: (property_identifier) @name body: (statement_block) @body) @definition
(variable_declarator name: (identifier) @name value: (arrow_function body: (statement_block) @body)) @definition
(interface_declaration name: (type_identifier) @name) @definition
(type_alias_declaration name: (type_identifier) @name) @definition
