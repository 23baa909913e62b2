"""The worker as a request needs it: started on first need, with work-done progress in the editor
while the model loads (seconds), and a failure told to the user once rather than on every keystroke."""

from __future__ import annotations

import logging
import time

from lsprotocol import types

from lsp.fill.settings import Settings
from lsp.server.state import FillgapServer
from lsp.worker.client import WorkerClient

log = logging.getLogger("fillgap.server")


async def start_worker(ls: FillgapServer) -> WorkerClient:
    """The running worker; starting it (model load: seconds) shows work-done progress in the editor."""
    if ls.worker is None:  # a client that skipped `initialize`
        ls.configure(Settings())
    assert ls.worker is not None
    async with ls.starting:
        worker = ls.worker
        if worker.running:
            return worker
        token = f"fillgap-start-{id(worker)}-{time.monotonic_ns()}"
        shown = ls.progress_ok and await _begin_progress(ls, token)
        try:
            ready = await worker.ensure_started()
            ls.told_worker_failed = False  # a worker that fails again after this is worth telling about
        finally:
            if shown:
                ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message="model ready"))
        ls.window_log_message(
            types.LogMessageParams(
                types.MessageType.Info,
                f"fillgap: model {ready.model} on {ready.device} ({ready.backend}), {ready.parameters:,} parameters",
            )
        )
        return worker


async def _begin_progress(ls: FillgapServer, token: str) -> bool:
    """Show "loading the model"; False when the client would not take the token."""
    try:
        await ls.work_done_progress.create_async(token)
        ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(title="fillgap", message="loading the model"))
        return True
    except Exception as exc:  # a client refusing the token must not stop the fill
        log.info("no progress report: %r", exc)
        return False


def tell_worker_failed(ls: FillgapServer, exc: Exception) -> None:
    """Say once, not on every keystroke, that the model is unavailable and why."""
    if not ls.told_worker_failed:
        ls.told_worker_failed = True
        ls.window_show_message(
            types.ShowMessageParams(types.MessageType.Error, f"fillgap: model worker unavailable: {exc}")
        )
