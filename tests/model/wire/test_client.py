"""The blocking client against a stand-in worker on a real Unix socket (no model): hello with and
without the token, status, a fill among other replies, cancel, shutdown, and waiting to listen."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from model.wire.client import Connection, connect, listening, query, shutdown, wait_listening
from model.wire.endpoint import Address
from model.wire.protocol import (
    Cancel,
    Candidate,
    ErrorReply,
    FillRequest,
    FillResult,
    Hello,
    Ready,
    Shutdown,
    StatusRequest,
    WorkerStatus,
    encode_frame,
    from_wire,
    read_frame,
)

TOKEN = "s3cret"


def _status(msg_id: int) -> WorkerStatus:
    return WorkerStatus(msg_id, "m", "cpu", "sdpa", 1, 0.0, 1, 0, 0, 0, 0, 0, 0.0, 0.0, 10.0, 0.0, 0, 0.0)


class StandIn:
    """Answers like a worker: Ready to the right token, status, each fill after a stray error."""

    def __init__(self, path: Path) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen()
        self.seen: list[object] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn, conn.makefile("rb") as stream:
                self._converse(conn, stream)

    def _converse(self, conn: socket.socket, stream: BinaryIO) -> None:
        first = read_frame(stream)
        if first is None:  # a probe that only connected
            return
        hello = from_wire(first)
        if not isinstance(hello, Hello) or hello.token != TOKEN:
            conn.sendall(encode_frame(ErrorReply(id=None, message="unauthorized")))
            return
        conn.sendall(encode_frame(Ready("m", "cpu", 1, 1024)))
        while (frame := read_frame(stream)) is not None:
            msg = from_wire(frame)
            self.seen.append(msg)
            if isinstance(msg, StatusRequest):
                conn.sendall(encode_frame(_status(msg.id)))
            elif isinstance(msg, FillRequest):
                stray = ErrorReply(id=msg.id + 100, message="cancelled")  # another request's answer first
                done = FillResult(msg.id, [Candidate("1", 4, 0.9)], 1.0, 2)
                conn.sendall(encode_frame(stray) + encode_frame(done))
            elif isinstance(msg, Shutdown):
                return

    def close(self) -> None:
        self.listener.close()


@pytest.fixture()
def worker(tmp_path: Path) -> Iterator[tuple[StandIn, Address]]:
    path = tmp_path / "w.sock"
    stand_in = StandIn(path)
    yield stand_in, Address("unix", path=str(path))
    stand_in.close()


def test_hello_needs_the_token(worker: tuple[StandIn, Address]) -> None:
    _, address = worker
    with pytest.raises(ConnectionRefusedError, match="unauthorized"):
        connect(address, "wrong", timeout=5)
    with Connection.open(address, timeout=5) as raw:
        assert isinstance(raw.hello("wrong"), ErrorReply) and raw.at_eof()
    with connect(address, TOKEN, timeout=5) as conn:
        assert conn.ready is not None and conn.ready.context_tokens == 1024


def test_status_fill_cancel_and_shutdown(worker: tuple[StandIn, Address]) -> None:
    stand_in, address = worker
    assert query(address, TOKEN).rss_mb == 10.0
    with connect(address, TOKEN, timeout=5) as conn:
        reply = conn.fill(FillRequest(id=conn.next_id(), prefix="x = ", suffix="\n", budgets=[4]))
        assert isinstance(reply, FillResult) and reply.candidates[0].text == "1"  # the stray error skipped
        assert conn.status().id == 2
        conn.cancel(9)
    shutdown(address, TOKEN)
    assert any(isinstance(m, Cancel) and m.id == 9 for m in stand_in.seen)


def test_waiting_for_a_worker_to_listen(tmp_path: Path) -> None:
    address = Address("unix", path=str(tmp_path / "later.sock"))
    assert not listening(address)
    with pytest.raises(RuntimeError, match="exited"):
        wait_listening(address, 5, gone=lambda: True)
    with pytest.raises(TimeoutError):
        wait_listening(address, 0.1)
    stand_in = StandIn(tmp_path / "later.sock")
    try:
        wait_listening(address, 5)
        assert listening(address)
    finally:
        stand_in.close()
