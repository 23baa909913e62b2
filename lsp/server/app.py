"""`fillgap serve`: the language server over stdio.

`server` is the one `FillgapServer` (lsp/server/state.py) of the process, with every LSP handler
registered on it by its feature module (lsp/server/features/); `main` starts it on stdio.
"""

from __future__ import annotations

import logging
import sys

from lsp.server import features
from lsp.server.rpc_guard import FramedStdin
from lsp.server.state import FillgapServer

__all__ = ["FillgapServer", "main", "new_server", "server"]


def new_server() -> FillgapServer:
    """A server with every fillgap handler registered (one per process in use; more in tests)."""
    ls = FillgapServer()
    features.register(ls)
    return ls


server = new_server()


def main(log_level: str = "WARNING") -> None:
    logging.basicConfig(level=log_level)
    server.start_io(stdin=FramedStdin(sys.stdin.buffer))  # type: ignore[arg-type]
