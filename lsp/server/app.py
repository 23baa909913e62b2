"""`fillgap serve`: the language server over stdio.

Document sync is pygls's (incremental). Inline completion finds the gap at the cursor with
tree-sitter, asks the worker for candidates, and offers the first one that parses in context.
The worker starts on the first request that needs it.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

import tree_sitter as ts
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.workspace import TextDocument

from lsp import __version__
from lsp.server.actions import REFINE_BELOW, ActionData, list_actions, parse_data, rewrite_gap, workspace_edit
from lsp.fill.cache import SuggestionCache
from lsp.fill.context import related_context
from lsp.server.documents import LspWorkspace, lsp_lines
from lsp.fill.pipeline import Suggestion, fill_gap, fill_jointly, refine_span
from lsp.fill.gaps import Gap, find_gap, line_end, placeholder_gaps
from lsp.server.rpc_guard import FramedStdin, GuardedProtocol
from lsp.fill.settings import Settings, from_options
from lsp.fill.snippets import escape, with_tab_stops
from lsp.fill.syntax import LANGUAGES
from lsp.server.trees import DocumentTrees
from lsp.worker.client import WorkerClient, WorkerUnavailable
from lsp.worker.connectors import connector_for

log = logging.getLogger("fillgap.server")


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
            settings.model, settings.device, settings.threads, w.mode, w.address, w.token_file, w.idle_timeout_s
        )
        if old is not None and old.key == connector.key:
            old.deadline_ms = w.deadline_ms
            return None
        self.worker = WorkerClient(connector)
        self.worker.deadline_ms = w.deadline_ms
        return old


server = FillgapServer()


@server.feature(types.INITIALIZE)
def on_initialize(ls: FillgapServer, params: types.InitializeParams) -> None:
    ls.workspace.__class__ = LspWorkspace  # pygls's, counting lines as LSP does (lsp/documents.py)
    try:
        settings = from_options(params.initialization_options)
    except ValueError as exc:
        ls.window_show_message(types.ShowMessageParams(types.MessageType.Error, f"fillgap: {exc}; using defaults"))
        settings = Settings()
    ls.configure(settings)
    ls.snippets = (
        settings.snippets == "on" or settings.snippets == "auto" and client_takes_snippets(params.capabilities)
    )
    window = params.capabilities.window
    ls.progress_ok = bool(window and window.work_done_progress)


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
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


def client_takes_snippets(caps: types.ClientCapabilities) -> bool:
    """LSP 3.18 has no inline-completion snippet flag; completion's snippetSupport is the client's word."""
    item = caps.text_document and caps.text_document.completion and caps.text_document.completion.completion_item
    return bool(item and item.snippet_support)


@server.feature(types.SHUTDOWN)
async def on_shutdown(ls: FillgapServer, params: None) -> None:
    if ls.worker is not None:
        await ls.worker.close()


def open_document(ls: FillgapServer, uri: str) -> TextDocument:
    if uri not in ls.workspace.text_documents:
        raise JsonRpcInvalidParams(f"document {uri} is not open")
    return ls.workspace.get_text_document(uri)


def line_length(line: str, encoding: str | None) -> int:
    """Length of a line in the position units the client and server agreed on (UTF-16 by default)."""
    if encoding == types.PositionEncodingKind.Utf8:
        return len(line.encode("utf-8"))
    if encoding == types.PositionEncodingKind.Utf32:
        return len(line)
    return len(line.encode("utf-16-le")) // 2


def check_position(doc: TextDocument, pos: types.Position, encoding: str | None) -> None:
    lines = lsp_lines(doc.source) + [""]  # the position just past a final line break is on a line of its own
    if doc.source and not doc.source.endswith(("\n", "\r")):
        lines.pop()
    if pos.line < 0 or pos.character < 0 or pos.line >= len(lines):
        raise JsonRpcInvalidParams(f"position {pos.line}:{pos.character} is outside the document ({len(lines)} lines)")
    if pos.character > line_length(lines[pos.line].rstrip("\r\n"), encoding):
        raise JsonRpcInvalidParams(f"position {pos.line}:{pos.character} is past the end of its line")


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
        return cached
    with superseding(ls, doc.uri):
        if automatic:  # typed, not asked for: wait for a pause; a newer keystroke's request cancels this one
            await asyncio.sleep(ls.settings.debounce_ms / 1000)
        suggestion = await model_fill(ls, language, text, gap, tree, doc.uri, fast)
    if suggestion is not None or ls.worker is not None and ls.worker.running:
        ls.cache.put(doc.uri, text, gap, suggestion)
    return suggestion


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
        shown = False
        if ls.progress_ok:
            try:
                await ls.work_done_progress.create_async(token)
                ls.work_done_progress.begin(
                    token, types.WorkDoneProgressBegin(title="fillgap", message="loading the model")
                )
                shown = True
            except Exception as exc:  # a client refusing the token must not stop the fill
                log.info("no progress report: %r", exc)
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
    `fast`: with the typing profile's sampler, and no resampling."""
    context = related_context(language, text, gap.start, gap.end, ls.trees.others(uri, language))
    typing = ls.settings.typing
    sampler = typing.sampler(ls.settings.sampler) if fast else ls.settings.sampler
    resample = typing.resample if fast else True
    try:
        worker = await start_worker(ls)
        return (await fill_gap(worker, language, text, gap, sampler, tree, context, resample)).suggestion
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


def tell_worker_failed(ls: FillgapServer, exc: Exception) -> None:
    """Say once, not on every keystroke, that the model is unavailable and why."""
    if not ls.told_worker_failed:
        ls.told_worker_failed = True
        ls.window_show_message(
            types.ShowMessageParams(types.MessageType.Error, f"fillgap: model worker unavailable: {exc}")
        )


@server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
async def inline_completion(ls: FillgapServer, params: types.InlineCompletionParams) -> types.InlineCompletionList:
    doc = open_document(ls, params.text_document.uri)
    check_position(doc, params.position, ls.workspace.position_encoding)
    text, offset = doc.source, doc.offset_at_position(params.position)
    automatic = params.context.trigger_kind == types.InlineCompletionTriggerKind.Automatic
    selected = params.context.selected_completion_info
    if selected is not None:
        return await _after_selected_item(ls, doc, selected, automatic)
    suggestion = await suggest(ls, doc, offset, automatic)
    if suggestion is None or doc.source != text:
        return types.InlineCompletionList(items=[])  # nothing, or computed for text that changed since
    return _inline_items(ls, doc, suggestion.gap.start, suggestion.gap.end, suggestion.text, suggestion)


def _inline_items(
    ls: FillgapServer, doc: TextDocument, start: int, end: int, insert: str, suggestion: Suggestion
) -> types.InlineCompletionList:
    first, last = doc.client_position_at_offset(start), doc.client_position_at_offset(end)
    if first.line != last.line:
        return types.InlineCompletionList(items=[])  # LSP 3.18: an inline item's range stays on one line
    ls.cache.shown(doc.uri, doc.source, suggestion)
    text: str | types.StringValue = insert
    if ls.snippets and suggestion.doubts and insert.endswith(suggestion.text):
        shift = len(insert) - len(suggestion.text)
        doubts = tuple((a + shift, b + shift) for a, b in suggestion.doubts)
        text = types.StringValue(with_tab_stops(insert, doubts))
    item = types.InlineCompletionItem(
        insert_text=text,
        range=types.Range(first, last),
        filter_text=doc.source[start:end] or None,
        command=types.Command("fillgap: accepted", "fillgap.accepted", arguments=[doc.uri]),
    )
    return types.InlineCompletionList(items=[item])


async def _after_selected_item(
    ls: FillgapServer, doc: TextDocument, selected: types.SelectedCompletionInfo, automatic: bool
) -> types.InlineCompletionList:
    """The popup's selected item as if accepted, and the fill after it: one item covering both."""
    text = doc.source
    s0, s1 = doc.offset_at_position(selected.range.start), doc.offset_at_position(selected.range.end)
    virtual = text[:s0] + selected.text + text[s1:]
    cursor = s0 + len(selected.text)
    shadow = TextDocument(doc.uri, virtual, language_id=doc.language_id)
    suggestion = await suggest(ls, shadow, cursor, automatic)
    if suggestion is None or doc.source != text or suggestion.gap.start < cursor:
        return types.InlineCompletionList(items=[])
    shift = len(selected.text) - (s1 - s0)
    insert = virtual[s0 : suggestion.gap.start] + suggestion.text
    return _inline_items(ls, doc, s0, suggestion.gap.end - shift, insert, suggestion)


@server.command("fillgap.accepted")
def accepted_command(ls: FillgapServer, *args: Any) -> None:
    """An inline item was accepted (its `command`): counted for fillgap.status, never sent anywhere."""
    if args and isinstance(args[0], str):
        ls.cache.accepted(args[0])


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: FillgapServer, params: types.DidOpenTextDocumentParams) -> None:
    item = params.text_document
    ls.trees.open(item.uri, item.language_id, item.text, ls.workspace.position_codec)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: FillgapServer, params: types.DidChangeTextDocumentParams) -> None:
    ls.trees.change(params.text_document.uri, params.content_changes)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: FillgapServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.cache.forget(params.text_document.uri)
    ls.trees.close(params.text_document.uri)


class ContentModified(JsonRpcException):
    """LSP's ContentModified: the document changed since the request's data was computed."""

    CODE = types.LSPErrorCodes.ContentModified


@server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=[]))
async def completion(ls: FillgapServer, params: types.CompletionParams) -> types.CompletionList:
    """For clients without inline completion: the same fill as one multi-line item."""
    doc = open_document(ls, params.text_document.uri)
    check_position(doc, params.position, ls.workspace.position_encoding)
    version = doc.version
    suggestion = await suggest(ls, doc, doc.offset_at_position(params.position))
    if suggestion is None or doc.version != version:
        return types.CompletionList(is_incomplete=True, items=[])
    gap = suggestion.gap
    start, end = doc.client_position_at_offset(gap.start), doc.client_position_at_offset(gap.end)
    if start.line != end.line:
        return types.CompletionList(is_incomplete=True, items=[])
    first = suggestion.text.strip().split("\n")[0]
    # A snippet client (Neovim's vim.lsp.completion, Helix, eglot with yasnippet) expands a snippet's
    # newlines on accept; as plain text several of them insert only the word typed so far.
    snippet = client_takes_snippets(ls.client_capabilities)
    item = types.CompletionItem(
        label=first if len(first) <= 60 else first[:57] + "...",
        kind=types.CompletionItemKind.Snippet,
        detail=f"fillgap ({suggestion.text.count(chr(10)) + 1} lines, confidence {suggestion.confidence:.2f})",
        documentation=types.MarkupContent(types.MarkupKind.Markdown, f"```{doc.language_id}\n{suggestion.text}\n```"),
        text_edit=types.TextEdit(
            range=types.Range(start, end), new_text=escape(suggestion.text) if snippet else suggestion.text
        ),
        filter_text=doc.source[gap.start : gap.end] or None,
        insert_text_format=types.InsertTextFormat.Snippet if snippet else types.InsertTextFormat.PlainText,
    )
    return types.CompletionList(is_incomplete=True, items=[item])


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.RefactorRewrite], resolve_provider=True),
)
def code_actions(ls: FillgapServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    doc = open_document(ls, params.text_document.uri)
    language = doc.language_id or ""
    if not ls.settings.fills(language):
        return []
    check_position(doc, params.range.start, ls.workspace.position_encoding)
    check_position(doc, params.range.end, ls.workspace.position_encoding)
    start, end = doc.offset_at_position(params.range.start), doc.offset_at_position(params.range.end)
    tree = ls.trees.tree(doc.uri, language, doc.source)
    return list_actions(language, doc.source, doc.uri, doc.version or 0, start, end, ls.settings.budgets, tree)


async def edit_for(ls: FillgapServer, data: ActionData) -> types.WorkspaceEdit | None:
    """Compute the action's edit on the document as it was listed; None when the model has nothing."""
    doc = open_document(ls, data.uri)
    if (doc.version or 0) != data.version:
        raise ContentModified(f"{data.uri} changed since the action was listed (version {data.version})")
    language, text = doc.language_id or "", doc.source
    if data.end > len(text):
        raise JsonRpcInvalidParams("code action range lies outside the document")
    if data.action == "refine":
        return await _refine_edit(ls, doc, data)
    if data.action == "rewrite":
        gaps = [rewrite_gap(text, data.start, data.end)]
    else:
        tree = ls.trees.tree(doc.uri, language, text)
        gaps = [
            g
            for g in placeholder_gaps(language, text, ls.settings.budgets, tree)
            if data.action == "all" or g.start == data.start
        ]
    filled = await fill_gaps(ls, language, text, gaps)
    if not filled or (doc.version or 0) != data.version:
        return None
    changes = [
        (types.Range(doc.client_position_at_offset(s.gap.start), doc.client_position_at_offset(s.gap.end)), s.text)
        for s in filled
    ]
    return workspace_edit(doc.uri, data.version, changes)


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
    rng = types.Range(doc.client_position_at_offset(gap.start), doc.client_position_at_offset(gap.end))
    return workspace_edit(doc.uri, data.version, [(rng, refined.text)])


async def fill_gaps(ls: FillgapServer, language: str, text: str, gaps: list[Gap]) -> list[Suggestion]:
    try:
        worker = await start_worker(ls)
        filled, _ = await fill_jointly(worker, language, text, gaps, ls.settings.sampler)
        return filled
    except WorkerUnavailable as exc:
        tell_worker_failed(ls, exc)
        return []


@server.feature(types.CODE_ACTION_RESOLVE)
async def resolve_action(ls: FillgapServer, action: types.CodeAction) -> types.CodeAction:
    try:
        data = parse_data(action.data)
    except ValueError as exc:
        raise JsonRpcInvalidParams(str(exc)) from exc
    edit = await edit_for(ls, data)
    if edit is None:
        ls.window_show_message(
            types.ShowMessageParams(types.MessageType.Info, f"fillgap: nothing to offer for {action.title}")
        )
        return action
    action.edit = edit
    return action


@server.command("fillgap.status")
async def status_command(ls: FillgapServer, *args: Any) -> dict[str, object]:
    result = status(ls)
    if ls.worker is not None and ls.worker.running:  # the worker's own counters; never starts one
        try:
            result["worker_status"] = asdict(await ls.worker.status(timeout=2.0))
        except (WorkerUnavailable, TimeoutError) as exc:
            result["worker_status"] = {"error": str(exc)}
    return result


@server.command("fillgap.fillBody")
async def fill_body_command(ls: FillgapServer, *args: Any) -> dict[str, object]:
    """fillgap.fillBody(uri, line): fill the placeholder body on that line and apply the edit."""
    if len(args) != 2 or not isinstance(args[0], str) or not isinstance(args[1], int):
        raise JsonRpcInvalidParams("fillgap.fillBody takes (uri, line)")
    doc = open_document(ls, args[0])
    check_position(doc, types.Position(line=args[1], character=0), ls.workspace.position_encoding)
    text, language = doc.source, doc.language_id or ""
    at = doc.offset_at_position(types.Position(line=args[1], character=0))
    tree = ls.trees.tree(doc.uri, language, text)
    on_line = [g for g in placeholder_gaps(language, text, tree=tree) if at <= g.start <= line_end(text, at)]
    if not on_line:
        return {"applied": False, "reason": "no placeholder body on that line"}
    return await apply_action(ls, ActionData(doc.uri, doc.version or 0, "body", on_line[0].start, on_line[0].end))


@server.command("fillgap.fillAll")
async def fill_all_command(ls: FillgapServer, *args: Any) -> dict[str, object]:
    """fillgap.fillAll(uri): fill every placeholder body of the document and apply the edit."""
    if len(args) != 1 or not isinstance(args[0], str):
        raise JsonRpcInvalidParams("fillgap.fillAll takes (uri)")
    doc = open_document(ls, args[0])
    return await apply_action(ls, ActionData(doc.uri, doc.version or 0, "all", 0, len(doc.source)))


async def apply_action(ls: FillgapServer, data: ActionData) -> dict[str, object]:
    edit = await edit_for(ls, data)
    if edit is None:
        return {"applied": False, "reason": "the model offered nothing that parses"}
    result = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(edit=edit, label="fillgap"))
    return {"applied": result.applied, "reason": result.failure_reason}


def status(ls: FillgapServer) -> dict[str, object]:
    worker = ls.worker
    ready = worker.ready if worker is not None else None
    return {
        "version": __version__,
        "worker": "ready" if ready is not None else "not started",
        "model": ready.model if ready else ls.settings.model,
        "device": ready.device if ready else ls.settings.device,
        "backend": getattr(ready, "backend", None),
        "languages": sorted(lang for lang in LANGUAGES if ls.settings.fills(lang)),
        "documents": len(ls.workspace.text_documents),
        "suggestions": dict(ls.cache.counts),
        "sampler": asdict(ls.settings.sampler),
        "parses": {"full": ls.trees.full_parses, "incremental": ls.trees.incremental_parses},
    }


def main(log_level: str = "WARNING") -> None:
    logging.basicConfig(level=log_level)
    server.start_io(stdin=FramedStdin(sys.stdin.buffer))  # type: ignore[arg-type]
