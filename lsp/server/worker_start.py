"""The worker as a request needs it: started on first need, with work-done progress in the editor
while the model loads (seconds for the shipped model, minutes for a 7B one: the worker's progress
reports become `$/progress` reports), and a failure told to the user once rather than on every
keystroke."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from lsprotocol import types

from lsp.fill.settings import Settings
from lsp.server.state import FillgapServer
from lsp.worker.client import WorkerClient
from model.wire.protocol import Progress

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
            ready = await worker.ensure_started(_reporter(ls, token) if shown else None)
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


def _reporter(ls: FillgapServer, token: str) -> Callable[[Progress], None]:
    """The worker's load progress as reports on the editor's progress token (percentages only
    ever rising, as the protocol asks)."""
    shown = -1

    def report(progress: Progress) -> None:
        nonlocal shown
        percent = min(100, progress.done * 100 // progress.total) if progress.total > 0 else None
        if percent is not None and percent < shown:
            percent = None
        shown = percent if percent is not None else shown
        ls.work_done_progress.report(
            token, types.WorkDoneProgressReport(message=describe(progress), percentage=percent)
        )

    return report


def describe(progress: Progress) -> str:
    """E.g. "loading model-00002-of-00004.safetensors: 4.1 of 15.2 GB"."""
    if progress.stage == "load" and progress.total > 0:
        what = f" {progress.message}" if progress.message else ""
        return f"loading{what}: {_size(progress.done, progress.total)}"
    return f"{progress.stage}: {progress.message}" if progress.message else progress.stage


def _size(done: int, total: int) -> str:
    unit, scale = ("GB", 1e9) if total >= 1e9 else ("MB", 1e6)
    return f"{done / scale:.1f} of {total / scale:.1f} {unit}"


def tell_worker_failed(ls: FillgapServer, exc: Exception) -> None:
    """Say once, not on every keystroke, that the model is unavailable and why."""
    if not ls.told_worker_failed:
        ls.told_worker_failed = True
        ls.window_show_message(
            types.ShowMessageParams(types.MessageType.Error, f"fillgap: model worker unavailable: {exc}")
        )
