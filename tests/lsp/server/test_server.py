"""`fillgap serve` through a real LSP client over stdio, with the real worker and shipped model."""

from __future__ import annotations

import ast
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from lsp.eval.client import apply_item, inline, open_doc, running_server
from lsp.fill.syntax import error_nodes, parse
from tests.waiting import until_async

pytestmark = [pytest.mark.slow]

AREA = 'def area(w, h):\n    """Area of a rectangle."""\n    pass\n'


async def test_body_gap_is_filled_by_the_model_and_parses() -> None:
    async with running_server() as client:
        open_doc(client, "file:///tmp/area.py", AREA)
        items = await inline(client, "file:///tmp/area.py", 2, 6)
        assert len(items) == 1
        item = items[0]
        assert item.range is not None
        assert (item.range.start.line, item.range.start.character) == (2, 4)
        assert (item.range.end.line, item.range.end.character) == (2, 8)  # replaces `pass`
        assert isinstance(item.insert_text, str) and item.insert_text.strip()
        assert item.insert_text.strip() != "pass"
        # A body may take several lines; each continuation line stays inside the body.
        assert all(line.startswith("    ") or not line.strip() for line in item.insert_text.split("\n")[1:])
        filled = apply_item(AREA, item)
        assert not error_nodes(parse("python", filled), "python"), filled
        ast.parse(filled)  # CPython's own parser agrees


async def test_bad_input_gets_an_error_or_nothing_and_the_server_keeps_serving() -> None:
    async with running_server() as client:
        open_doc(client, "file:///tmp/notes.cobol", "IDENTIFICATION DIVISION.\n", language="cobol")
        assert await inline(client, "file:///tmp/notes.cobol", 0, 3) == []

        broken = "def f(:\n    pass\n  x = = 1\n"
        open_doc(client, "file:///tmp/broken.py", broken)
        for item in await inline(client, "file:///tmp/broken.py", 1, 4):
            after = apply_item(broken, item)
            assert len(error_nodes(parse("python", after), "python")) <= len(
                error_nodes(parse("python", broken), "python")
            )

        open_doc(client, "file:///tmp/area.py", AREA)
        with pytest.raises(JsonRpcException, match="outside the document"):
            await inline(client, "file:///tmp/area.py", 40, 0)
        with pytest.raises(JsonRpcException, match="past the end of its line"):
            await inline(client, "file:///tmp/area.py", 0, 400)
        with pytest.raises(JsonRpcException, match="not open"):
            await inline(client, "file:///tmp/never-opened.py", 0, 0)

        items = await inline(client, "file:///tmp/area.py", 2, 4)  # still answering
        assert items
        ast.parse(apply_item(AREA, items[0]))


async def _worker_forgotten(client: Any) -> bool:
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="fillgap.status"))
    return result["worker"] == "not started"


def _worker_pids(server_pid: int) -> list[int]:
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children")
    return [int(p) for p in children.read_text().split()] if children.exists() else []


async def test_a_killed_worker_is_restarted_by_the_next_request() -> None:
    async with running_server() as client:
        open_doc(client, "file:///tmp/area.py", AREA)
        assert await inline(client, "file:///tmp/area.py", 2, 4)
        server_pid = client._server.pid  # type: ignore[union-attr]
        (worker_pid,) = _worker_pids(server_pid)
        os.kill(worker_pid, signal.SIGKILL)
        # Reaped by the server's event loop, which has seen the pipe close; then the server has
        # forgotten it (the next request starts a new one). States waited for, not fixed sleeps.
        await until_async("the killed worker to be reaped", lambda: not Path(f"/proc/{worker_pid}").exists())
        await until_async("the server to forget the worker", lambda: _worker_forgotten(client), every=0.1)
        edited = "# edited\n" + AREA  # a new text, so the answer cannot come from the cache
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri="file:///tmp/area.py", version=2),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=edited)],
            )
        )
        items = await inline(client, "file:///tmp/area.py", 3, 4)
        assert items and items[0].insert_text
        (new_pid,) = _worker_pids(server_pid)
        assert new_pid != worker_pid
