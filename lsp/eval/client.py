"""A real LSP client for `fillgap serve`: the server as a subprocess, spoken to over stdio by pygls.

`fillgap eval` drives fills through it, as an editor would, and the tests use it the same way.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient


class FillgapClient(LanguageClient):
    def __init__(self) -> None:
        super().__init__("fillgap-client", "0")
        self.messages: list[str] = []  # window/logMessage and window/showMessage texts, in order


@asynccontextmanager
async def running_server(
    options: dict[str, Any] | None = None, capabilities: types.ClientCapabilities | None = None
) -> AsyncIterator[FillgapClient]:
    """Start `fillgap serve`, initialize it with `options` as initializationOptions, shut it down after."""
    client = FillgapClient()

    @client.feature(types.WINDOW_LOG_MESSAGE)
    def _log(params: types.LogMessageParams) -> None:
        client.messages.append(params.message)

    @client.feature(types.WINDOW_SHOW_MESSAGE)
    def _show(params: types.ShowMessageParams) -> None:
        client.messages.append(params.message)

    await client.start_io(sys.executable, "-m", "lsp.cli", "serve")
    result = await client.initialize_async(
        types.InitializeParams(
            capabilities=capabilities or types.ClientCapabilities(), initialization_options=options or {}
        )
    )
    if not result.capabilities.inline_completion_provider:
        raise RuntimeError("fillgap serve did not offer inline completion")
    client.initialized(types.InitializedParams())
    try:
        yield client
    finally:
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()


def open_doc(client: LanguageClient, uri: str, text: str, language: str = "python", version: int = 1) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=uri, language_id=language, version=version, text=text)
        )
    )


def close_doc(client: LanguageClient, uri: str) -> None:
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )


async def inline(
    client: LanguageClient, uri: str, line: int, character: int, automatic: bool = False
) -> list[types.InlineCompletionItem]:
    """An inline completion request: invoked (asked for), or automatic (typed: the typing profile)."""
    kind = types.InlineCompletionTriggerKind.Automatic if automatic else types.InlineCompletionTriggerKind.Invoked
    result = await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=character),
            context=types.InlineCompletionContext(trigger_kind=kind),
        )
    )
    if result is None:
        return []
    return list(result.items) if isinstance(result, types.InlineCompletionList) else list(result)


def insert_text(item: types.InlineCompletionItem) -> str:
    return item.insert_text if isinstance(item.insert_text, str) else item.insert_text.value


# Not pygls's TextDocument: it splits lines with str.splitlines (form feeds, U+2028, ... end a
# line there), while the server counts lines by \n, as these do.
def position_of(text: str, offset: int) -> types.Position:
    """The LSP position (UTF-16 columns) of a character offset."""
    line_start = text.rfind("\n", 0, offset) + 1
    column = len(text[line_start:offset].encode("utf-16-le")) // 2
    return types.Position(line=text.count("\n", 0, offset), character=column)


def offset_of(text: str, pos: types.Position) -> int:
    """The character offset of an LSP position (UTF-16 columns)."""
    line_start = 0
    for _ in range(pos.line):
        line_start = text.index("\n", line_start) + 1
    line_end = text.find("\n", line_start)
    line = text[line_start : len(text) if line_end < 0 else line_end]
    units = line.encode("utf-16-le")[: 2 * pos.character]
    return line_start + len(units.decode("utf-16-le"))


def apply_item(text: str, item: types.InlineCompletionItem) -> str:
    """The document after accepting an inline item."""
    if item.range is None:
        raise ValueError("fillgap's inline items always carry a range")
    start, end = offset_of(text, item.range.start), offset_of(text, item.range.end)
    return text[:start] + insert_text(item) + text[end:]


def apply_workspace_edit(text: str, uri: str, edit: types.WorkspaceEdit) -> tuple[str, int | None]:
    """The one document's text after a WorkspaceEdit, and the version the edit was made for."""
    changes = [c for c in edit.document_changes or [] if isinstance(c, types.TextDocumentEdit)]
    if len(changes) != 1 or changes[0].text_document.uri != uri:
        raise ValueError("expected edits to exactly this one document")
    spans = []
    for e in changes[0].edits:
        start, end = offset_of(text, e.range.start), offset_of(text, e.range.end)
        new = e.snippet.value if isinstance(e, types.SnippetTextEdit) else e.new_text
        spans.append((start, end, new))
    for start, end, new in sorted(spans, reverse=True):  # last first: earlier offsets stay valid
        text = text[:start] + new + text[end:]
    return text, changes[0].text_document.version
