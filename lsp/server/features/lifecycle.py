"""initialize, workspace/didChangeConfiguration and shutdown: the settings, and the worker they name."""

from __future__ import annotations

from lsprotocol import types

from lsp.fill.settings import Settings, from_options
from lsp.server.capabilities import client_takes_progress, client_takes_snippets
from lsp.server.documents import LspWorkspace
from lsp.server.state import FillgapServer


def register(server: FillgapServer) -> None:
    server.feature(types.INITIALIZE)(on_initialize)
    server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)(on_configuration)
    server.feature(types.SHUTDOWN)(on_shutdown)


def on_initialize(ls: FillgapServer, params: types.InitializeParams) -> None:
    ls.workspace.__class__ = LspWorkspace  # pygls's, counting lines as LSP does (lsp/server/documents.py)
    try:
        settings = from_options(params.initialization_options)
    except ValueError as exc:
        ls.window_show_message(types.ShowMessageParams(types.MessageType.Error, f"fillgap: {exc}; using defaults"))
        settings = Settings()
    ls.configure(settings)
    ls.snippets = (
        settings.snippets == "on" or settings.snippets == "auto" and client_takes_snippets(params.capabilities)
    )
    ls.progress_ok = client_takes_progress(params.capabilities)


async def on_configuration(ls: FillgapServer, params: types.DidChangeConfigurationParams) -> None:
    """New settings (the `fillgap` section, or the whole object); a new model or device restarts the worker."""
    raw = params.settings
    if isinstance(raw, dict) and isinstance(raw.get("fillgap"), dict):
        raw = raw["fillgap"]
    try:
        settings = from_options(raw)
    except ValueError as exc:
        ls.window_show_message(types.ShowMessageParams(types.MessageType.Error, f"fillgap: {exc}; settings kept"))
        return
    old = ls.configure(settings)
    if old is not None:
        await old.close()


async def on_shutdown(ls: FillgapServer, params: None) -> None:
    if ls.worker is not None:
        await ls.worker.close()
