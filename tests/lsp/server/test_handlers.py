"""The handlers in process, on a fresh server with a stand-in worker: what each LSP method answers,
without a model or a client. The same features through the real worker are in the other files here."""

from __future__ import annotations

import asyncio
import typing
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from lsp.fill.actions import ActionData, parse_data
from lsp.fill.settings import from_options
from lsp.server.app import FillgapServer, new_server
from lsp.server.edits import ContentModified
from lsp.server.features import code_action, commands, completion, inline_completion, lifecycle, text_sync
from lsp.worker.client import WorkerUnavailable
from model.wire.protocol import Candidate, FillResult, Progress, Ready, SamplerSettings

URI = "file:///tmp/area.py"
AREA = 'def area(w, h):\n    """Area of a rectangle."""\n    pass\n'
FILL = "return w * h"


class StandInWorker:
    """Answers every fill with the same text (every hole of a joint fill too); `down`: unavailable."""

    def __init__(self, text: str = FILL, down: bool = False) -> None:
        self.text, self.down = text, down
        self.ready: Ready | None = None
        self.fills: list[dict[str, Any]] = []
        self.key = ("stand-in",)
        self.deadline_ms = 0

    @property
    def running(self) -> bool:
        return self.ready is not None

    async def ensure_started(self, progress: Callable[[Progress], None] | None = None) -> Ready:
        if self.down:
            raise WorkerUnavailable("stand-in is down")
        self.ready = Ready(model="stand-in", device="cpu", parameters=1, context_tokens=512, backend="none")
        return self.ready

    async def fill(
        self, prefix: str, suffix: str, budgets: Sequence[int], sampler: SamplerSettings, **kw: Any
    ) -> FillResult:
        self.fills.append({"prefix": prefix, "suffix": suffix, "sampler": sampler, **kw})
        holes = max(1, len(kw.get("holes") or ()))
        cands = [Candidate(self.text, budgets[0], 0.9, hole=i) for i in range(holes)]
        return FillResult(id=len(self.fills), candidates=cands, elapsed_ms=1.0, forward_passes=1)

    async def status(self, timeout: float = 5.0) -> object:
        raise WorkerUnavailable("the stand-in keeps no counters")

    async def close(self) -> None:
        self.ready = None


def _run_builtin(steps: Iterator[Any]) -> None:
    """One of pygls's built-in methods, which yields to the user's (synchronous) handler midway."""
    for handler, args, _ in steps:
        handler(*args)


def _server(worker: StandInWorker, capabilities: types.ClientCapabilities | None = None) -> FillgapServer:
    """A server through pygls's own initialize (workspace, then our handler), told notifications go nowhere."""
    ls = new_server()
    sent: list[tuple[str, Any]] = []
    ls.protocol.notify = lambda method, params=None: sent.append((method, params))  # type: ignore[method-assign]
    ls.sent = sent  # type: ignore[attr-defined]
    params = types.InitializeParams(capabilities=capabilities or types.ClientCapabilities())
    _run_builtin(ls.protocol.lsp_initialize(params))
    ls.worker = worker  # type: ignore[assignment]
    return ls


def _open(ls: FillgapServer, text: str = AREA, uri: str = URI, language: str = "python") -> None:
    params = types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, language, 1, text))
    _run_builtin(ls.protocol.lsp_text_document__did_open(params))  # pygls's document, then our tree


def _inline_params(line: int, col: int, automatic: bool = False, uri: str = URI) -> types.InlineCompletionParams:
    kind = types.InlineCompletionTriggerKind.Automatic if automatic else types.InlineCompletionTriggerKind.Invoked
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri),
        position=types.Position(line, col),
        context=types.InlineCompletionContext(trigger_kind=kind),
    )


def _messages(ls: FillgapServer, method: str) -> list[Any]:
    return [p for m, p in ls.sent if m == method]  # type: ignore[attr-defined]


def test_every_method_group_registers_on_the_server() -> None:
    fm = new_server().protocol.fm
    assert set(fm.features) == {
        types.INITIALIZE,
        types.WORKSPACE_DID_CHANGE_CONFIGURATION,
        types.SHUTDOWN,
        types.TEXT_DOCUMENT_DID_OPEN,
        types.TEXT_DOCUMENT_DID_CHANGE,
        types.TEXT_DOCUMENT_DID_CLOSE,
        types.TEXT_DOCUMENT_INLINE_COMPLETION,
        types.TEXT_DOCUMENT_COMPLETION,
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CODE_ACTION_RESOLVE,
    }
    assert set(fm.commands) == {"fillgap.accepted", "fillgap.status", "fillgap.fillBody", "fillgap.fillAll"}
    assert fm.feature_options[types.TEXT_DOCUMENT_CODE_ACTION].resolve_provider
    for handler in [*fm.features.values(), *fm.commands.values()]:  # pygls structures commands' args by these
        typing.get_type_hints(getattr(handler, "func", handler))


async def test_inline_completion_fills_the_body_then_answers_from_the_cache() -> None:
    worker = StandInWorker()
    ls = _server(worker)
    _open(ls)
    result = await inline_completion.inline_completion(ls, _inline_params(2, 6))
    (item,) = result.items
    assert item.insert_text == FILL
    assert item.range == types.Range(types.Position(2, 4), types.Position(2, 8))  # replaces `pass`
    assert item.filter_text == "pass"
    assert item.command is not None and item.command.arguments[0] == URI
    assert item.command.arguments[1]["geomean"] == 0.9  # the gate's scores ride along, for the eval
    asked = len(worker.fills)
    again = await inline_completion.inline_completion(ls, _inline_params(2, 6))
    assert [i.insert_text for i in again.items] == [FILL] and len(worker.fills) == asked
    commands.accepted_command(ls, URI)
    assert ls.cache.counts["accepted"] == 1 and ls.cache.counts["hits"] == 1


async def test_bad_positions_and_unopened_documents_are_invalid_params() -> None:
    ls = _server(StandInWorker())
    _open(ls)
    with pytest.raises(JsonRpcInvalidParams, match="outside the document"):
        await inline_completion.inline_completion(ls, _inline_params(40, 0))
    with pytest.raises(JsonRpcInvalidParams, match="past the end of its line"):
        await inline_completion.inline_completion(ls, _inline_params(0, 400))
    with pytest.raises(JsonRpcInvalidParams, match="not open"):
        await inline_completion.inline_completion(ls, _inline_params(0, 0, uri="file:///tmp/never.py"))
    await inline_completion.inline_completion(ls, _inline_params(3, 0))  # just past the final line break: valid


async def test_an_unavailable_worker_gives_nothing_and_is_told_once() -> None:
    ls = _server(StandInWorker(down=True))
    _open(ls)
    assert (await inline_completion.inline_completion(ls, _inline_params(2, 6))).items == []
    _open(ls, "# changed\n" + AREA)
    assert (await inline_completion.inline_completion(ls, _inline_params(3, 6))).items == []
    (shown,) = _messages(ls, types.WINDOW_SHOW_MESSAGE)
    assert "unavailable" in shown.message and shown.type == types.MessageType.Error


async def test_a_newer_typed_request_supersedes_the_one_waiting() -> None:
    ls = _server(StandInWorker())
    _open(ls)
    first = asyncio.create_task(inline_completion.inline_completion(ls, _inline_params(2, 6, automatic=True)))
    await asyncio.sleep(0)  # the first is now waiting out the debounce
    second = await inline_completion.inline_completion(ls, _inline_params(2, 6, automatic=True))
    with pytest.raises(asyncio.CancelledError):
        await first
    assert [i.insert_text for i in second.items] == [FILL]
    assert ls.inflight == {}


async def test_requests_carry_only_the_sampler_settings_the_user_set() -> None:
    """Nothing the user left unset is pinned by the server: the worker's family decides it. A typed
    request goes as the typing profile, with the user's settings but none of the typing three."""
    worker = StandInWorker()
    ls = _server(worker)
    ls.settings = from_options({"debounce_ms": 0, "sampler": {"tau": 0.5, "steps": 16}})
    _open(ls)
    await inline_completion.inline_completion(ls, _inline_params(2, 6))
    assert worker.fills[0]["sampler"] == SamplerSettings(tau=0.5, steps=16) and worker.fills[0]["profile"] == "full"
    _open(ls, "# changed\n" + AREA)
    await inline_completion.inline_completion(ls, _inline_params(3, 6, automatic=True))
    typed = worker.fills[-1]
    assert typed["sampler"] == SamplerSettings(tau=0.5) and typed["profile"] == "typing"
    ls.settings = from_options({"typing": {"steps": 4}})
    _open(ls, "# again\n" + AREA)
    await inline_completion.inline_completion(ls, _inline_params(3, 6, automatic=True))
    assert worker.fills[-1]["sampler"] == SamplerSettings(steps=4) and worker.fills[-1]["profile"] == "typing"


async def test_completion_offers_the_fill_as_one_item() -> None:
    snippets = types.ClientCapabilities(
        text_document=types.TextDocumentClientCapabilities(
            completion=types.CompletionClientCapabilities(
                completion_item=types.ClientCompletionItemOptions(snippet_support=True)
            )
        )
    )
    ls = _server(StandInWorker("return w * h  # $1"), snippets)
    _open(ls)
    params = types.CompletionParams(types.TextDocumentIdentifier(URI), types.Position(2, 6))
    (item,) = (await completion.completion(ls, params)).items
    assert item.label == "return w * h  # $1"
    assert item.insert_text_format == types.InsertTextFormat.Snippet
    assert isinstance(item.text_edit, types.TextEdit) and item.text_edit.new_text == "return w * h  # \\$1"


async def test_a_multi_line_completion_item_is_written_for_how_the_client_indents_it() -> None:
    """A snippet client prefixes each new line with the gap's line's indentation (Neovim's vim.snippet,
    VS Code's snippet session): the item's lines come relative to it; plain text comes as written,
    marked as such (VS Code would re-indent it too)."""
    snippets = types.ClientCapabilities(
        text_document=types.TextDocumentClientCapabilities(
            completion=types.CompletionClientCapabilities(
                completion_item=types.ClientCompletionItemOptions(snippet_support=True)
            )
        )
    )
    params = types.CompletionParams(types.TextDocumentIdentifier(URI), types.Position(2, 6))
    for caps, new_text, mode in (
        (snippets, "w = abs(w)\nreturn w * h", types.InsertTextMode.AdjustIndentation),
        (None, "w = abs(w)\n    return w * h", types.InsertTextMode.AsIs),
    ):
        ls = _server(StandInWorker("w = abs(w)\n    return w * h"), caps)
        _open(ls)
        (item,) = (await completion.completion(ls, params)).items
        assert isinstance(item.text_edit, types.TextEdit)
        assert (item.text_edit.new_text, item.insert_text_mode) == (new_text, mode)


async def test_code_actions_list_instantly_and_resolve_against_their_version() -> None:
    worker = StandInWorker()
    ls = _server(worker)
    _open(ls)
    rng = types.Range(types.Position(2, 4), types.Position(2, 4))
    params = types.CodeActionParams(types.TextDocumentIdentifier(URI), rng, types.CodeActionContext([]))
    actions = code_action.code_actions(ls, params)
    assert [a.title for a in actions] == ["Fill body", "Fill all gaps in file (1)"] and not worker.fills
    resolved = await code_action.resolve_action(ls, actions[0])
    assert resolved.edit is not None and resolved.edit.document_changes is not None
    (change,) = resolved.edit.document_changes
    assert isinstance(change, types.TextDocumentEdit) and change.text_document.version == 1
    assert [e.new_text for e in change.edits] == [FILL]
    ls.workspace.get_text_document(URI).version = 2  # the user typed since the listing
    with pytest.raises(ContentModified):
        await code_action.resolve_action(ls, actions[1])
    with pytest.raises(JsonRpcInvalidParams):
        await code_action.resolve_action(ls, types.CodeAction(title="x", data={"uri": URI}))


async def test_code_actions_for_a_language_not_filled_are_none() -> None:
    ls = _server(StandInWorker())
    _open(ls, "IDENTIFICATION DIVISION.\n", "file:///tmp/a.cob", "cobol")
    rng = types.Range(types.Position(9, 0), types.Position(9, 0))
    params = types.CodeActionParams(types.TextDocumentIdentifier("file:///tmp/a.cob"), rng, types.CodeActionContext([]))
    assert code_action.code_actions(ls, params) == []


async def test_fill_commands_apply_their_edit_and_status_reports() -> None:
    ls = _server(StandInWorker())
    _open(ls)
    applied: list[types.ApplyWorkspaceEditParams] = []

    async def apply(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        applied.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)

    ls.workspace_apply_edit_async = apply  # type: ignore[method-assign]
    assert await commands.fill_body_command(ls, URI, 2) == {"applied": True, "reason": None}
    assert await commands.fill_body_command(ls, URI, 0) == {
        "applied": False,
        "reason": "no placeholder body on that line",
    }
    assert (await commands.fill_all_command(ls, URI))["applied"] is True
    assert len(applied) == 2 and applied[0].label == "fillgap"
    with pytest.raises(JsonRpcInvalidParams, match="takes"):
        await commands.fill_body_command(ls, URI)
    status = await commands.status_command(ls)
    assert status["worker"] == "ready" and status["model"] == "stand-in" and status["documents"] == 1
    assert status["worker_status"] == {"error": "the stand-in keeps no counters"}  # reported, not raised


async def test_configuration_takes_new_settings_and_keeps_the_old_on_bad_ones() -> None:
    ls = _server(StandInWorker())
    await lifecycle.on_configuration(ls, types.DidChangeConfigurationParams({"fillgap": {"debounce_ms": -1}}))
    (shown,) = _messages(ls, types.WINDOW_SHOW_MESSAGE)
    assert "settings kept" in shown.message
    await lifecycle.on_configuration(ls, types.DidChangeConfigurationParams({"fillgap": {"debounce_ms": 10}}))
    assert ls.settings.debounce_ms == 10


def test_close_forgets_the_document() -> None:
    ls = _server(StandInWorker())
    _open(ls)
    text_sync.did_close(ls, types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(URI)))
    assert ls.trees.others("file:///other.py", "python") == []


def test_action_data_round_trips_through_the_client() -> None:
    data = ActionData(URI, 3, "rewrite", 1, 5)
    assert parse_data(data.as_json()) == data
    with pytest.raises(ValueError):
        parse_data({**data.as_json(), "action": "delete"})
