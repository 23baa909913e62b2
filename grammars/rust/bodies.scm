; Function bodies, for measuring fills (`fillgap measure`).
(function_item body: (block) @body)
