"""The suggestion at a cursor, as inline completion and completion both offer it: from the cache,
typed through, or from the model with the other open documents' definitions as context. A typed
(automatic) request waits for a pause in typing, and a newer request on the same document cancels it;
what it gets passes the gate (lsp/fill/gate.py) or is not shown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import tree_sitter as ts
from lsprotocol import types
from pygls.workspace import TextDocument

from lsp.fill.context import related_context
from lsp.fill.gaps import Gap, find_gap
from lsp.fill.gate import shown_while_typing, threshold
from lsp.fill.pipeline import Suggestion, fill_gap
from lsp.server.state import FillgapServer
from lsp.server.worker_start import start_worker, tell_worker_failed
from lsp.worker.client import WorkerUnavailable


async def suggest(ls: FillgapServer, doc: TextDocument, offset: int, automatic: bool = False) -> Suggestion | None:
    """The suggestion at the cursor: from the cache, or typed through, or from the model."""
    language = doc.language_id or ""
    if not ls.settings.fills(language):
        ls.window_log_message(types.LogMessageParams(types.MessageType.Log, f"fillgap: not filling {language!r}"))
        return None
    text = doc.source
    rest = ls.cache.typed_through(doc.uri, text, offset)
    if rest is not None:
        return rest
    tree = ls.trees.tree(doc.uri, language, text)
    fast = automatic and ls.settings.typing.enabled  # as-you-type: the latency-first profile
    gap = find_gap(language, text, offset, ls.settings.typing.budgets if fast else ls.settings.budgets, tree)
    found, cached = ls.cache.get(doc.uri, text, gap)
    if found:
        return gated(ls, language, text, cached, tree, automatic)
    with superseding(ls, doc.uri):
        if automatic:  # typed, not asked for: wait for a pause; a newer keystroke's request cancels this one
            await asyncio.sleep(ls.settings.debounce_ms / 1000)
        suggestion = await model_fill(ls, language, text, gap, tree, doc.uri, fast)
    if suggestion is not None or ls.worker is not None and ls.worker.running:
        ls.cache.put(doc.uri, text, gap, suggestion)  # ungated: asked for later, it is shown
    return gated(ls, language, text, suggestion, tree, automatic)


def gated(
    ls: FillgapServer, language: str, text: str, suggestion: Suggestion | None, tree: ts.Tree | None, automatic: bool
) -> Suggestion | None:
    """The suggestion, unless a typed request's gate holds it back (lsp/fill/gate.py)."""
    if suggestion is None or not automatic:
        return suggestion
    if shown_while_typing(language, text, suggestion, gate_in_force(ls), tree):
        return suggestion
    ls.cache.counts["gated"] += 1
    return None


def gate_in_force(ls: FillgapServer) -> float:
    """`typing.gate`, else the threshold calibrated for the worker's model (lsp/fill/gate.py)."""
    ready = ls.worker.ready if ls.worker is not None else None
    return threshold(ls.settings.typing.gate, ready.typing_gate if ready is not None else 0.0)


async def model_fill(
    ls: FillgapServer,
    language: str,
    text: str,
    gap: Gap,
    tree: ts.Tree | None = None,
    uri: str = "",
    fast: bool = False,
) -> Suggestion | None:
    """Fill the gap, with the definitions it names from the other open documents as context;
    `fast`: with the typing profile (the worker's profile "typing"), and no resampling."""
    context = related_context(language, text, gap.start, gap.end, ls.trees.others(uri, language))
    typing = ls.settings.typing
    sampler = typing.sampler(ls.settings.sampler) if fast else ls.settings.sampler
    resample = typing.resample if fast else True
    profile = "typing" if fast else "full"
    try:
        worker = await start_worker(ls)
        return (await fill_gap(worker, language, text, gap, sampler, tree, context, resample, profile)).suggestion
    except WorkerUnavailable as exc:
        tell_worker_failed(ls, exc)
        return None


@contextmanager
def superseding(ls: FillgapServer, uri: str) -> Iterator[None]:
    """Cancel this document's request in flight, if any; this one is now the document's."""
    task = asyncio.current_task()
    previous = ls.inflight.get(uri)
    if previous is not None and previous is not task and not previous.done():
        previous.cancel()
    if task is not None:
        ls.inflight[uri] = task
    try:
        yield
    finally:
        if ls.inflight.get(uri) is task:
            del ls.inflight[uri]
