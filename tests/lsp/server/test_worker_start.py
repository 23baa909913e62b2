"""Starting the worker as an editor sees it, through `fillgap serve` and a real LSP client over
stdio: the load's progress as `$/progress` reports, only the settings the user set on the wire to
the worker, and a worker of another protocol version told to the user."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
from lsprotocol import types

from lsp.eval.client import FillgapClient, inline, open_doc, running_server
from model.checkpoint import DEFAULT_CHECKPOINT, weight_files
from model.wire.protocol import VERSION, Candidate, FillResult, Ready, decode_body, encode_frame, read_body
from tests.waiting import until_async

pytestmark = [pytest.mark.slow]

AREA = 'def area(w, h):\n    """Area of a rectangle."""\n    pass\n'
URI = "file:///tmp/area.py"
PROGRESS = types.ClientCapabilities(window=types.WindowClientCapabilities(work_done_progress=True))


def _watch_progress(client: FillgapClient) -> list[tuple[str, dict[str, Any]]]:
    seen: list[tuple[str, dict[str, Any]]] = []

    @client.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
    def _create(params: types.WorkDoneProgressCreateParams) -> None:
        seen.append(("create", {}))

    @client.feature(types.PROGRESS)
    def _progress(params: types.ProgressParams) -> None:
        value = params.value if isinstance(params.value, dict) else {}
        seen.append((value.get("kind", "?"), value))

    return seen


async def test_the_workers_load_progress_reaches_the_editor_as_progress_reports() -> None:
    async with running_server({"threads": 1, "worker": {"mode": "private"}}, PROGRESS) as client:
        seen = _watch_progress(client)
        open_doc(client, URI, AREA)
        assert await inline(client, URI, 2, 4)
        await until_async("the progress end", lambda: seen and seen[-1][0] == "end")
    kinds = [kind for kind, _ in seen]
    assert kinds[:2] == ["create", "begin"] and kinds[-1] == "end" and kinds.count("report") >= 2, kinds
    reports = [value for kind, value in seen if kind == "report"]
    files = weight_files(DEFAULT_CHECKPOINT)  # model.safetensors, or its shards past the file cap
    mb = sum(p.stat().st_size for p in files) / 1e6
    first = f"loading {files[0].name} (1 of {len(files)}): 0.0 of {mb:.1f} MB"
    assert reports[0]["message"] == first, reports
    assert reports[-1]["message"].endswith(f": {mb:.1f} of {mb:.1f} MB") and reports[-1]["percentage"] == 100
    percentages = [r["percentage"] for r in reports if r.get("percentage") is not None]
    assert percentages == sorted(percentages) and percentages[0] == 0


class RecordingWorker:
    """A worker on a Unix socket that keeps every fill frame exactly as the server sent it (the raw
    map) and answers it with one candidate; or, with `refuse_as`, a worker of that older protocol
    version, which answers hello as such a worker does (an error frame of its version) and hangs up."""

    def __init__(self, path: Path, refuse_as: int | None = None) -> None:
        self.path, self.refuse_as = path, refuse_as
        self.fills: list[dict[str, Any]] = []
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(8)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:  # closed: the test is over
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as stream:
            while (body := read_body(stream)) is not None:
                raw = decode_body(body)
                if raw["type"] == "hello" and self.refuse_as is not None:
                    why = f"protocol version {VERSION} is not {self.refuse_as}"
                    frame = msgpack.packb({"v": self.refuse_as, "type": "error", "id": None, "message": why})
                    conn.sendall(struct.pack(">I", len(frame)) + frame)
                    return
                if raw["type"] == "hello":
                    conn.sendall(encode_frame(Ready("recording", "cpu", 1, 512, "none", pid=1)))
                elif raw["type"] == "fill":
                    self.fills.append(raw)
                    tokens = ["return", " w", " *", " h"]
                    cand = Candidate("return w * h", raw["budgets"][0], 0.9, tokens, [0.9] * 4)
                    conn.sendall(encode_frame(FillResult(raw["id"], [cand], 1.0, 1)))

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def recording(private_worker_sockets: Path) -> Iterator[RecordingWorker]:
    worker = RecordingWorker(private_worker_sockets / "recording.sock")
    yield worker
    worker.close()


async def _typed(client: FillgapClient, uri: str, line: int, col: int) -> None:
    """An Automatic (as-you-type) request."""
    await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=col),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
        )
    )


async def test_the_server_sends_the_worker_only_the_settings_the_user_set(recording: RecordingWorker) -> None:
    worker = {"address": f"unix://{recording.path}"}
    async with running_server({"worker": worker, "debounce_ms": 0}) as client:
        open_doc(client, URI, AREA)
        assert await inline(client, URI, 2, 4)
    (untouched,) = recording.fills
    assert untouched["sampler"] == {} and untouched["profile"] == "full"  # no `steps: 8` the user never chose
    recording.fills.clear()
    user = {"worker": worker, "debounce_ms": 0, "sampler": {"tau": 0.5, "steps": 16}, "typing": {"refine_rounds": 1}}
    async with running_server(user) as client:
        open_doc(client, URI, AREA)
        assert await inline(client, URI, 2, 4)
        open_doc(client, "file:///tmp/typed.py", AREA)  # its own document: nothing cached for it
        await _typed(client, "file:///tmp/typed.py", 2, 4)
    invoked, typed = recording.fills
    assert invoked["sampler"] == {"tau": 0.5, "steps": 16} and invoked["profile"] == "full"
    # The typing profile's three (steps, refine_rounds, dual_cache) replace the full profile's.
    assert typed["sampler"] == {"tau": 0.5, "refine_rounds": 1} and typed["profile"] == "typing"


async def test_a_worker_of_another_protocol_version_is_told_to_the_user(private_worker_sockets: Path) -> None:
    old = RecordingWorker(private_worker_sockets / "old.sock", refuse_as=1)
    try:
        async with running_server({"worker": {"address": f"unix://{old.path}"}}) as client:
            open_doc(client, URI, AREA)
            assert await inline(client, URI, 2, 4) == []  # answered, empty: the server did not crash
            shown = await until_async(
                "the version message", lambda: [m for m in client.messages if "protocol version" in m]
            )
            assert await inline(client, URI, 2, 4) == []  # and it keeps answering
    finally:
        old.close()
    (message,) = shown
    assert f"speaks worker protocol version 1, this one speaks {VERSION}" in message, message
    assert (
        "run the same fillgap version on both" in message and f"it said: protocol version {VERSION} is not 1" in message
    )
