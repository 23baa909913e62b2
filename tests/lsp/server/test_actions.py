"""Code actions, the completion fallback and commands, through `fillgap serve` with the real worker."""

from __future__ import annotations

import ast
import re

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from lsp.eval.client import apply_workspace_edit, open_doc, running_server

pytestmark = [pytest.mark.slow]

URI = "file:///tmp/shapes.py"
SHAPES = (
    "import math\n\n\n"
    'def area(w, h):\n    """Area of a rectangle."""\n    pass\n\n\n'
    'def circle(r):\n    """Area of a circle of radius r."""\n    ...\n'
)


def _range(line: int, col: int, end_line: int | None = None, end_col: int | None = None) -> types.Range:
    end = types.Position(line=end_line if end_line is not None else line, character=end_col if end_col else col)
    return types.Range(start=types.Position(line=line, character=col), end=end)


async def _actions(client, rng: types.Range) -> list[types.CodeAction]:
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=URI), range=rng, context=types.CodeActionContext([])
        )
    )
    return [a for a in result or [] if isinstance(a, types.CodeAction)]


def _changed(before: str, after: str) -> list[str]:
    """The lines of `before` that `after` no longer has (the edit must touch only placeholders)."""
    return [line for line in before.splitlines() if line not in after.splitlines()]


async def test_fill_body_is_listed_instantly_and_resolved_into_a_versioned_edit() -> None:
    async with running_server() as client:
        open_doc(client, URI, SHAPES, version=3)
        actions = await _actions(client, _range(5, 4))
        titles = [a.title for a in actions]
        assert titles == ["Fill body", "Fill all gaps in file (2)"]
        assert all(a.edit is None and a.kind == types.CodeActionKind.RefactorRewrite for a in actions)
        resolved = await client.code_action_resolve_async(actions[0])
        assert resolved.edit is not None
        after, version = apply_workspace_edit(SHAPES, URI, resolved.edit)
        assert version == 3
        ast.parse(after)
        assert _changed(SHAPES, after) == ["    pass"]


async def test_fill_all_fills_every_placeholder_in_one_edit() -> None:
    async with running_server() as client:
        open_doc(client, URI, SHAPES)
        actions = await _actions(client, _range(0, 0))
        assert [a.title for a in actions] == ["Fill all gaps in file (2)"]
        resolved = await client.code_action_resolve_async(actions[0])
        assert resolved.edit is not None
        after, _ = apply_workspace_edit(SHAPES, URI, resolved.edit)
        ast.parse(after)
        assert set(_changed(SHAPES, after)) <= {"    pass", "    ..."} and _changed(SHAPES, after)


async def test_an_action_resolved_after_the_document_changed_is_refused() -> None:
    async with running_server() as client:
        open_doc(client, URI, SHAPES, version=1)
        actions = await _actions(client, _range(5, 4))
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=2),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text="# edited\n" + SHAPES)],
            )
        )
        with pytest.raises(JsonRpcException) as err:
            await client.code_action_resolve_async(actions[0])
        assert err.value.code == types.LSPErrorCodes.ContentModified
        bad = types.CodeAction(title="Fill body", data={"uri": URI, "version": "x"})
        with pytest.raises(JsonRpcException) as err:
            await client.code_action_resolve_async(bad)
        assert err.value.code == -32602
        assert len(await _actions(client, _range(6, 4))) == 2  # still serving, on the new text


async def test_rewrite_selection_regenerates_it_with_both_sides_fixed() -> None:
    text = "def total(xs):\n    s = 0\n    for x in xs:\n        s = s + x\n    return s\n"
    async with running_server() as client:
        open_doc(client, URI, text)
        actions = await _actions(client, _range(3, 8, 3, 17))
        assert [a.title for a in actions] == ["Rewrite selection", "Refine selection"]
        resolved = await client.code_action_resolve_async(actions[0])
        if resolved.edit is not None:  # the model may have nothing that parses; then no edit at all
            after, _ = apply_workspace_edit(text, URI, resolved.edit)
            ast.parse(after)
            assert after.startswith(text[: text.index("s = s")]) and after.endswith("    return s\n")


async def _fallback_item(client) -> types.CompletionItem:
    """The completion fallback's one item for the `pass` of SHAPES."""
    result = await client.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=URI), position=types.Position(line=5, character=6)
        )
    )
    assert isinstance(result, types.CompletionList) and len(result.items) == 1
    return result.items[0]


async def test_completion_fallback_offers_the_fill_as_one_item() -> None:
    async with running_server() as client:
        open_doc(client, URI, SHAPES)
        item = await _fallback_item(client)
        assert isinstance(item.text_edit, types.TextEdit)
        edit = types.WorkspaceEdit(
            document_changes=[
                types.TextDocumentEdit(types.OptionalVersionedTextDocumentIdentifier(URI, 1), [item.text_edit])
            ]
        )
        after, _ = apply_workspace_edit(SHAPES, URI, edit)
        ast.parse(after)
        assert _changed(SHAPES, after) == ["    pass"]


async def test_a_snippet_client_gets_the_fallback_item_as_an_escaped_snippet() -> None:
    caps = types.ClientCapabilities(
        text_document=types.TextDocumentClientCapabilities(
            completion=types.CompletionClientCapabilities(
                completion_item=types.ClientCompletionItemOptions(snippet_support=True)
            )
        )
    )
    async with running_server(capabilities=caps) as client:
        open_doc(client, URI, SHAPES)
        item = await _fallback_item(client)
        assert item.insert_text_format == types.InsertTextFormat.Snippet
        assert isinstance(item.text_edit, types.TextEdit)
        # Unescaped, the snippet is the fill itself, and it parses in place.
        text = re.sub(r"\\([$}\\])", r"\1", item.text_edit.new_text)
        assert not re.search(r"(?<!\\)\$", item.text_edit.new_text)
        rng = item.text_edit.range
        lines = SHAPES.split("\n")
        after = "\n".join(
            lines[: rng.start.line]
            + [lines[rng.start.line][: rng.start.character] + text + lines[rng.end.line][rng.end.character :]]
            + lines[rng.end.line + 1 :]
        )
        ast.parse(after)


async def test_commands_apply_their_edit_through_the_client_and_report_status() -> None:
    async with running_server() as client:
        applied: list[types.WorkspaceEdit] = []

        @client.feature(types.WORKSPACE_APPLY_EDIT)
        def _apply(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
            applied.append(params.edit)
            return types.ApplyWorkspaceEditResult(applied=True)

        open_doc(client, URI, SHAPES)
        before = await client.workspace_execute_command_async(types.ExecuteCommandParams("fillgap.status"))
        assert before["worker"] == "not started" and before["documents"] == 1
        result = await client.workspace_execute_command_async(
            types.ExecuteCommandParams("fillgap.fillBody", arguments=[URI, 5])
        )
        assert result["applied"] is True and len(applied) == 1
        after, _ = apply_workspace_edit(SHAPES, URI, applied[0])
        ast.parse(after)
        status = await client.workspace_execute_command_async(types.ExecuteCommandParams("fillgap.status"))
        assert status["worker"] == "ready" and status["model"]
        with pytest.raises(JsonRpcException):
            await client.workspace_execute_command_async(types.ExecuteCommandParams("fillgap.fillBody", arguments=[]))


BROKEN = [  # (text, line): each line holds something a model should find unlikely
    ("def total(xs):\n    s = 0\n    for x in xs:\n        s = s + x\n    return s )) zq\n", 4),
    ("def total(xs):\n    s = 0\n    for x in xs:\n        s = s + zebra\n    return s\n", 3),
    ("def area(w, h):\n    return w ** ** h\n", 1),
    ("def names(path):\n    out = []\n    for n in os.listdir(path) path:\n        out.append(n)\n    return out\n", 2),
]


async def test_refine_selection_rewrites_what_the_model_finds_unlikely() -> None:
    edits = 0
    async with running_server() as client:
        for i, (text, row) in enumerate(BROKEN):
            uri = f"file:///tmp/refine{i}.py"
            open_doc(client, uri, text)
            line = text.splitlines()[row]
            rng = _range(row, len(line) - len(line.lstrip()), row, len(line))
            result = await client.text_document_code_action_async(
                types.CodeActionParams(types.TextDocumentIdentifier(uri=uri), rng, types.CodeActionContext([]))
            )
            refine = [a for a in result or [] if isinstance(a, types.CodeAction) and a.title == "Refine selection"]
            resolved = await client.code_action_resolve_async(refine[0])
            if resolved.edit is None:  # nothing unlikely enough, or no rewrite that parses: no edit at all
                continue
            edits += 1
            after, _ = apply_workspace_edit(text, uri, resolved.edit)
            ast.parse(after)
            others = [ln for j, ln in enumerate(text.splitlines()) if j != row]
            assert [ln for j, ln in enumerate(after.splitlines()) if j != row] == others  # only the selection
    assert edits >= 1, "no broken line was refined into code that parses"
