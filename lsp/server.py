"""`fillgap serve`: the language server over stdio.

Document sync is pygls's (incremental). Inline completion finds the gap at the cursor with
tree-sitter, asks the worker for candidates, and offers the first one that parses in context.
The worker starts on the first request that needs it.
"""

from __future__ import annotations

import logging

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.workspace import TextDocument

from lsp import __version__
from lsp.fill import Suggestion, fill_gap
from lsp.gaps import find_gap
from lsp.settings import Settings, from_options
from lsp.syntax import LANGUAGES
from lsp.worker_client import WorkerClient, WorkerUnavailable, worker_command

log = logging.getLogger("fillgap.server")


class FillgapServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("fillgap", __version__)
        self.settings = Settings()
        self.worker: WorkerClient | None = None
        self.told_worker_failed = False

    def configure(self, settings: Settings) -> None:
        self.settings = settings
        self.worker = WorkerClient(worker_command(settings.model, settings.device, settings.threads))


server = FillgapServer()


@server.feature(types.INITIALIZE)
def on_initialize(ls: FillgapServer, params: types.InitializeParams) -> None:
    try:
        settings = from_options(params.initialization_options)
    except ValueError as exc:
        ls.window_show_message(types.ShowMessageParams(types.MessageType.Error, f"fillgap: {exc}; using defaults"))
        settings = Settings()
    ls.configure(settings)


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
    lines = doc.source.split("\n")
    if pos.line < 0 or pos.character < 0 or pos.line >= len(lines):
        raise JsonRpcInvalidParams(f"position {pos.line}:{pos.character} is outside the document ({len(lines)} lines)")
    if pos.character > line_length(lines[pos.line].rstrip("\r"), encoding):
        raise JsonRpcInvalidParams(f"position {pos.line}:{pos.character} is past the end of its line")


async def suggest(ls: FillgapServer, doc: TextDocument, offset: int) -> Suggestion | None:
    language = doc.language_id or ""
    if language not in LANGUAGES:
        ls.window_log_message(types.LogMessageParams(types.MessageType.Log, f"fillgap: no grammar for {language!r}"))
        return None
    if ls.worker is None:  # a client that skipped `initialize`
        ls.configure(Settings())
    assert ls.worker is not None
    text = doc.source
    gap = find_gap(language, text, offset, ls.settings.budgets)
    try:
        return (await fill_gap(ls.worker, language, text, gap, ls.settings.sampler)).suggestion
    except WorkerUnavailable as exc:
        if not ls.told_worker_failed:
            ls.told_worker_failed = True
            ls.window_show_message(
                types.ShowMessageParams(types.MessageType.Error, f"fillgap: model worker unavailable: {exc}")
            )
        return None


@server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
async def inline_completion(ls: FillgapServer, params: types.InlineCompletionParams) -> types.InlineCompletionList:
    doc = open_document(ls, params.text_document.uri)
    check_position(doc, params.position, ls.workspace.position_encoding)
    version = doc.version
    suggestion = await suggest(ls, doc, doc.offset_at_position(params.position))
    if suggestion is None or doc.version != version:
        return types.InlineCompletionList(items=[])  # nothing, or computed for text that changed
    gap = suggestion.gap
    start, end = doc.client_position_at_offset(gap.start), doc.client_position_at_offset(gap.end)
    if start.line != end.line:
        return types.InlineCompletionList(items=[])  # LSP 3.18: an inline item's range stays on one line
    item = types.InlineCompletionItem(
        insert_text=suggestion.text,
        range=types.Range(start, end),
        filter_text=doc.source[gap.start : gap.end] or None,
    )
    return types.InlineCompletionList(items=[item])


def main(log_level: str = "WARNING") -> None:
    logging.basicConfig(level=log_level)
    server.start_io()
