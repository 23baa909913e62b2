"""Inline completion as an editor uses it: the cache, typing through a suggestion, accepts, superseding
requests, and the popup's selected item; through `fillgap serve` with the real worker."""

from __future__ import annotations

import ast
import asyncio

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from lsp.eval.client import apply_item, close_doc, insert_text, open_doc, running_server
from tests.lsp.fill.test_snippets import client_indents, expand
from tests.waiting import until_async

pytestmark = [pytest.mark.slow]

URI = "file:///tmp/total.py"
DOC = 'def total(xs):\n    """Sum of xs."""\n    s = 0\n    \n    return s\n'
LINE, COL = 3, 4  # the blank line inside the body


async def _inline(client, line: int, col: int, automatic: bool = False, selected=None):
    kind = types.InlineCompletionTriggerKind.Automatic if automatic else types.InlineCompletionTriggerKind.Invoked
    result = await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            position=types.Position(line=line, character=col),
            context=types.InlineCompletionContext(trigger_kind=kind, selected_completion_info=selected),
        )
    )
    return list(result.items) if isinstance(result, types.InlineCompletionList) else list(result or [])


async def _status(client) -> dict:
    return await client.workspace_execute_command_async(types.ExecuteCommandParams("fillgap.status"))


def _change(client, version: int, text: str) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


BLANKS = [  # documents with a blank body line (line 3, column 4 or 8): the model must fill at least one
    (DOC, LINE, COL),
    ('def total(xs):\n    """Sum of xs."""\n    s = 0\n    \n    for x in xs:\n        s += x\n    return s\n', 3, 4),
    ('def area(w, h):\n    """Area of a rectangle."""\n    w = float(w)\n    \n', 3, 4),
    ('def names(path):\n    """File names in path."""\n    result = []\n    \n    return result\n', 3, 4),
]


async def _first_filled(client) -> tuple[str, int, int, list[types.InlineCompletionItem], int]:
    for opened, (text, line, col) in enumerate(BLANKS, 1):
        open_doc(client, URI, text)
        items = await _inline(client, line, col)
        if items:
            return text, line, col, items, opened
        close_doc(client, URI)
    raise AssertionError("the model offered nothing for any blank body line")


async def test_asking_again_is_answered_from_the_cache_and_typing_through_reuses_it() -> None:
    async with running_server() as client:
        doc, line, col, first, opened = await _first_filled(client)
        again = await _inline(client, line, col)
        assert [insert_text(i) for i in again] == [insert_text(i) for i in first]
        assert (await _status(client))["suggestions"]["hits"] == 1
        text = insert_text(first[0])
        typed = min(2, len(text) - 1)
        cursor = sum(len(ln) + 1 for ln in doc.split("\n")[:line]) + col
        after_typing = doc[:cursor] + text[:typed] + doc[cursor:]
        _change(client, 2, after_typing)
        rest = await _inline(client, line, col + typed)
        assert [insert_text(i) for i in rest] == [text[typed:]]
        ast.parse(apply_item(after_typing, rest[0]))
        assert rest[0].command is not None and rest[0].command.command == "fillgap.accepted"
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(rest[0].command.command, arguments=rest[0].command.arguments)
        )
        status = await _status(client)
        assert status["suggestions"]["typed_through"] == 1 and status["suggestions"]["accepted"] == 1
        assert status["parses"]["full"] == opened and status["parses"]["incremental"] == 1  # the opens, the change


async def test_a_newer_automatic_request_supersedes_the_one_in_flight() -> None:
    async with running_server({"debounce_ms": 300}) as client:
        open_doc(client, URI, DOC)
        older = asyncio.ensure_future(_inline(client, LINE, COL, automatic=True))
        await asyncio.sleep(0.05)
        newer = await _inline(client, 2, 9, automatic=True)
        try:
            stale = await older
        except JsonRpcException as exc:  # cancelled requests answer RequestCancelled
            assert exc.code == types.LSPErrorCodes.RequestCancelled
        else:
            assert stale == []
        assert isinstance(newer, list)


async def test_the_popup_selected_item_is_extended_by_the_fill() -> None:
    doc = 'def total(xs):\n    """Sum of xs."""\n    s = sum(xs)\n    ret\n'
    async with running_server() as client:
        open_doc(client, URI, doc)
        selected = types.SelectedCompletionInfo(
            range=types.Range(types.Position(line=3, character=4), types.Position(line=3, character=7)), text="return"
        )
        items = await _inline(client, 3, 7, selected=selected)
        assert items, "nothing offered after the selected `return`"
        for item in items:
            assert insert_text(item).startswith("return") and item.range.start.character == 4
            ast.parse(apply_item(doc, item))


async def test_doubtful_spans_come_as_tab_stops_when_snippets_are_on() -> None:
    sampler = {"tau": 0.99, "refine_rounds": 0}  # nearly every token is a doubt at this tau
    async with running_server({"snippets": "on", "sampler": sampler}) as client:
        open_doc(client, URI, DOC)
        items = await _inline(client, LINE, COL)
        assert items and isinstance(items[0].insert_text, types.StringValue)
        snippet = items[0].insert_text.value
        assert "${1:" in snippet and snippet.endswith("$0")
    async with running_server({"snippets": "off", "sampler": sampler}) as client:
        open_doc(client, URI, DOC)
        plain = await _inline(client, LINE, COL)
        assert plain and isinstance(plain[0].insert_text, str)
        inserted = client_indents("    ", expand(snippet)[0])  # as the client inserts it: blank lines indented
        assert [line.rstrip() for line in inserted.split("\n")] == [
            line.rstrip() for line in plain[0].insert_text.split("\n")
        ]


async def test_model_loading_shows_progress_and_configuration_changes_take_effect() -> None:
    caps = types.ClientCapabilities(window=types.WindowClientCapabilities(work_done_progress=True))
    async with running_server(capabilities=caps) as client:
        progress: list[str] = []

        @client.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
        def _create(params: types.WorkDoneProgressCreateParams) -> None:
            progress.append("create")

        @client.feature(types.PROGRESS)
        def _progress(params: types.ProgressParams) -> None:
            progress.append(params.value["kind"] if isinstance(params.value, dict) else type(params.value).__name__)

        open_doc(client, URI, DOC)
        await _inline(client, LINE, COL)
        # The progress end and the model's log line may follow the answer: wait for them, not 0.2 s.
        await until_async("the progress end", lambda: progress and progress[-1] == "end")
        await until_async("the model's log line", lambda: any("parameters" in m for m in client.messages))
        assert progress[0] == "create" and "begin" in progress and progress[-1] == "end"
        assert any("parameters" in m for m in client.messages)  # the model, device and backend, logged once
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"fillgap": {"sampler": {"steps": 4}}})
        )
        assert (await _status(client))["sampler"]["steps"] == 4
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"stepz": 1}))
        assert (await _status(client))["sampler"]["steps"] == 4
        assert any("stepz" in m for m in client.messages)
