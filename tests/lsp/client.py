"""A real LSP client for tests: `fillgap serve` as a subprocess, spoken to over stdio by pygls."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient


@asynccontextmanager
async def running_server(options: dict[str, Any] | None = None) -> AsyncIterator[LanguageClient]:
    client = LanguageClient("fillgap-tests", "0")
    client.messages = []  # type: ignore[attr-defined]

    @client.feature(types.WINDOW_LOG_MESSAGE)
    def _log(params: types.LogMessageParams) -> None:
        client.messages.append(params.message)  # type: ignore[attr-defined]

    @client.feature(types.WINDOW_SHOW_MESSAGE)
    def _show(params: types.ShowMessageParams) -> None:
        client.messages.append(params.message)  # type: ignore[attr-defined]

    await client.start_io(sys.executable, "-m", "lsp.cli", "serve")
    result = await client.initialize_async(
        types.InitializeParams(capabilities=types.ClientCapabilities(), initialization_options=options or {})
    )
    assert result.capabilities.inline_completion_provider
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


async def inline(client: LanguageClient, uri: str, line: int, character: int) -> list[types.InlineCompletionItem]:
    result = await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=character),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
        )
    )
    if result is None:
        return []
    return list(result.items) if isinstance(result, types.InlineCompletionList) else list(result)


def apply_item(text: str, item: types.InlineCompletionItem) -> str:
    """The document after accepting an item whose range lies on one line (ASCII text)."""
    assert item.range is not None and item.range.start.line == item.range.end.line
    lines = text.split("\n")
    row = item.range.start.line
    line = lines[row]
    insert = item.insert_text if isinstance(item.insert_text, str) else item.insert_text.value
    lines[row] = line[: item.range.start.character] + insert + line[item.range.end.character :]
    return "\n".join(lines)
