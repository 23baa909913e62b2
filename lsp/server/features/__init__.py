"""The LSP handlers, one module per method group, each with a `register(server)` that puts its
handlers on the server (app.py calls `register` below once, on its one server object):

- `lifecycle`: initialize, workspace/didChangeConfiguration, shutdown
- `text_sync`: textDocument/didOpen, didChange, didClose
- `inline_completion`: textDocument/inlineCompletion
- `completion`: textDocument/completion
- `code_action`: textDocument/codeAction, codeAction/resolve
- `commands`: workspace/executeCommand for fillgap.accepted, .status, .fillBody, .fillAll

A handler checks its params, takes what it needs of the document (text, version, tree) and calls
plain code: the shared glue in lsp/server (suggest, edits, positions, worker_start) and the fill
logic in lsp/fill. Find a method's handler by its lsprotocol name, e.g. `TEXT_DOCUMENT_CODE_ACTION`.
A handler's first parameter is named `ls`: pygls passes the server to a parameter of that name, and
resolves a command handler's type hints at runtime (so they must import, not just type-check).

May import pygls, lsprotocol, lsp.server's other modules but app.py (which imports this package;
the server's class is lsp/server/state.py's), lsp.fill, lsp.worker and model.wire. Never lsp.eval,
lsp.bench or lsp.cli.
"""

from __future__ import annotations

from lsp.server.features import code_action, commands, completion, inline_completion, lifecycle, text_sync
from lsp.server.state import FillgapServer

MODULES = (lifecycle, text_sync, inline_completion, completion, code_action, commands)


def register(server: FillgapServer) -> None:
    """Every fillgap handler, on `server`."""
    for module in MODULES:
        module.register(server)
