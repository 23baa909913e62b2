; Function bodies, for measuring fills: `fillgap measure` blanks each body and asks for it back.
(function_definition body: (block) @body)
