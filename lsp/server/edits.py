"""A code action's edit, computed by the model on the document as it was when the action was listed:
shared by `codeAction/resolve` and the fillgap.fillBody / fillgap.fillAll commands."""

from __future__ import annotations

import tree_sitter as ts
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.workspace import TextDocument

from lsp.fill.actions import REFINE_BELOW, ActionData, gaps_to_fill, rewrite_gap
from lsp.fill.gaps import Gap
from lsp.fill.pipeline import Suggestion, fill_jointly, refine_span
from lsp.server.actions import workspace_edit
from lsp.server.positions import open_document
from lsp.server.state import FillgapServer
from lsp.server.worker_start import start_worker, tell_worker_failed
from lsp.worker.client import WorkerUnavailable


class ContentModified(JsonRpcException):
    """LSP's ContentModified: the document changed since the request's data was computed."""

    CODE = types.LSPErrorCodes.ContentModified


async def edit_for(ls: FillgapServer, data: ActionData) -> types.WorkspaceEdit | None:
    """Compute the action's edit on the document as it was listed; None when the model has nothing."""
    doc = open_document(ls.workspace, data.uri)
    if (doc.version or 0) != data.version:
        raise ContentModified(f"{data.uri} changed since the action was listed (version {data.version})")
    language, text = doc.language_id or "", doc.source
    if data.end > len(text):
        raise JsonRpcInvalidParams("code action range lies outside the document")
    if data.action == "refine":
        return await _refine_edit(ls, doc, data)
    tree = ls.trees.tree(doc.uri, language, text) if data.action != "rewrite" else None
    filled = await fill_gaps(ls, language, text, gaps_to_fill(data, language, text, ls.settings.budgets, tree), tree)
    if not filled or (doc.version or 0) != data.version:
        return None
    changes = [(_range(doc, s.gap.start, s.gap.end), s.text) for s in filled]
    return workspace_edit(doc.uri, data.version, changes)


def _range(doc: TextDocument, start: int, end: int) -> types.Range:
    return types.Range(doc.client_position_at_offset(start), doc.client_position_at_offset(end))


async def _refine_edit(ls: FillgapServer, doc: TextDocument, data: ActionData) -> types.WorkspaceEdit | None:
    gap = rewrite_gap(doc.source, data.start, data.end)
    try:
        worker = await start_worker(ls)
        refined = await refine_span(worker, doc.language_id or "", doc.source, gap, ls.settings.sampler, REFINE_BELOW)
    except WorkerUnavailable as exc:
        tell_worker_failed(ls, exc)
        return None
    if refined is None or (doc.version or 0) != data.version:
        return None
    return workspace_edit(doc.uri, data.version, [(_range(doc, gap.start, gap.end), refined.text)])


async def fill_gaps(
    ls: FillgapServer, language: str, text: str, gaps: list[Gap], tree: ts.Tree | None = None
) -> list[Suggestion]:
    try:
        worker = await start_worker(ls)
        filled, _ = await fill_jointly(worker, language, text, gaps, ls.settings.sampler, tree)
        return filled
    except WorkerUnavailable as exc:
        tell_worker_failed(ls, exc)
        return []
