"""The language server side of fillgap: everything that runs without torch.

- `lsp.server`: the pygls adapter (one module per LSP method group under `features/`).
- `lsp.fill`: editor-independent fill logic: gaps, syntax, the candidate pipeline, cache, settings.
- `lsp.worker`: the server's side of the model worker (connectors and the async client).
- `lsp.eval`, `lsp.bench`: tooling that measures the server from outside, as an editor would.
- `lsp.cli`: the `fillgap` command, one module per subcommand.

May import: the standard library, pygls, lsprotocol, cattrs, tree-sitter, msgpack, and from `model`
only `model.wire`. Never torch, numpy or safetensors: the server starts in well under a second.
The server's packages (server, fill, worker) never import the tooling (eval, bench, cli).
"""

__version__ = "0.1.0"
