"""`FillgapServer`: pygls's server with fillgap's state: the settings, the worker (started on the
first request that needs it), the suggestion cache, each open document's tree, and each document's
request in flight.

Its own module, apart from app.py (which makes the one instance and registers the features on
it), because pygls reads command handlers' type hints at runtime: the features must import this
class without importing app.py, which imports them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pygls.lsp.server import LanguageServer

from lsp import __version__
from lsp.fill.cache import SuggestionCache
from lsp.fill.settings import Settings
from lsp.server.rpc_guard import GuardedProtocol
from lsp.server.trees import DocumentTrees
from lsp.worker.client import WorkerClient
from lsp.worker.connectors import connector_for
from model.wire.options import start_timeout_s


class FillgapServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("fillgap", __version__, protocol_cls=GuardedProtocol)  # every request answered
        self.settings = Settings()
        self.worker: WorkerClient | None = None
        self.told_worker_failed = False
        self.cache = SuggestionCache()
        self.trees = DocumentTrees()
        self.snippets = False  # offer doubtful spans as tab stops (when the client takes snippets)
        self.inflight: dict[str, asyncio.Task[Any]] = {}  # per document: the request a newer one supersedes
        self.starting = asyncio.Lock()  # one worker start (and one progress report) at a time
        self.progress_ok = False  # the client takes window/workDoneProgress

    def configure(self, settings: Settings) -> WorkerClient | None:
        """Take new settings; returns the old worker when the new ones need another (caller closes it)."""
        old, self.settings = self.worker, settings
        self.cache.clear()  # suggestions made under other settings
        w = settings.worker
        connector = connector_for(
            settings.model,
            settings.device,
            settings.threads,
            w.mode,
            w.address,
            w.token_file,
            w.idle_timeout_s,
            cluster_model=w.model,
        )
        if old is not None and old.key == connector.key:
            old.deadline_ms = w.deadline_ms
            return None
        # A remote worker is already loaded; a model of ours gets time sized from its checkpoint.
        self.worker = WorkerClient(connector, start_timeout_s(None if w.address else settings.model))
        self.worker.deadline_ms = w.deadline_ms
        return old
