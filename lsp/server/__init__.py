"""The pygls adapter: fillgap's language server, speaking LSP over stdio.

- `app`: the one server object, with every handler registered, and `main`, which starts it;
  `state`: its class, `FillgapServer` (settings, worker, cache, trees, requests in flight);
  `features/`: the handlers, one module per LSP method group.
- Glue the handlers share, which needs the server's state: `suggest` (the suggestion at a
  cursor: cache, debounce, superseding), `edits` (a code action's edit), `worker_start` (start on
  first need with work-done progress; tell a failure once), `positions` (checked documents and
  positions), `capabilities` (what the client takes).
- LSP plumbing: `rpc_guard` (every request answered, frames kept in step), `documents` (lines
  counted as LSP counts them), `trees` (each open document's tree, kept current from content
  changes), `actions` (code actions and workspace edits as LSP shapes).

Anything that does not need pygls or lsprotocol belongs in lsp.fill. May import pygls, lsprotocol,
cattrs, tree-sitter, lsp.fill, lsp.worker and model.wire; never lsp.eval, lsp.bench or lsp.cli
(tooling drives the server from outside), nor torch.
"""
