; Function bodies, for measuring fills (`fillgap measure`).
(function_declaration body: (statement_block) @body)
(method_definition body: (statement_block) @body)
(arrow_function body: (statement_block) @body)
(function_expression body: (statement_block) @body)
