"""The worker as a real process on stdio (a server's private child) with the shipped checkpoint."""

from __future__ import annotations

import struct
import subprocess
from collections.abc import Iterator

import msgpack
import pytest

from model.wire.options import worker_command
from model.wire.protocol import (
    Cancel,
    ErrorReply,
    FillRequest,
    FillResult,
    Ready,
    SamplerSettings,
    StatusRequest,
    WorkerStatus,
    encode_frame,
    from_wire,
    read_frame,
)

pytestmark = [pytest.mark.slow]

WORKER = worker_command(threads=1)


def _start() -> subprocess.Popen[bytes]:
    return subprocess.Popen(WORKER, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
def worker() -> Iterator[subprocess.Popen[bytes]]:
    proc = _start()
    yield proc
    proc.kill()
    proc.wait()


def _recv(proc: subprocess.Popen[bytes]) -> object:
    assert proc.stdout is not None
    return from_wire(read_frame(proc.stdout))


def _send(proc: subprocess.Popen[bytes], *msgs: object) -> None:
    assert proc.stdin is not None
    proc.stdin.write(b"".join(encode_frame(m) for m in msgs))
    proc.stdin.flush()


def _send_raw(proc: subprocess.Popen[bytes], body: bytes) -> None:
    assert proc.stdin is not None
    proc.stdin.write(struct.pack(">I", len(body)) + body)
    proc.stdin.flush()


def test_ready_then_fill(worker: subprocess.Popen[bytes]) -> None:
    ready = _recv(worker)
    assert isinstance(ready, Ready) and ready.parameters > 1_000_000 and ready.pid == worker.pid
    req = FillRequest(id=1, prefix="def area(w, h):\n    ", suffix="\n", budgets=[8, 16], sampler=SamplerSettings())
    _send(worker, req)
    res = _recv(worker)
    assert isinstance(res, FillResult) and res.id == 1 and len(res.candidates) == 2
    best = res.candidates[0]
    assert best.mean_confidence >= res.candidates[1].mean_confidence
    assert len(best.tokens) == len(best.confidences) and all(0 <= c <= 1 for c in best.confidences)
    assert "<|mask|>" not in best.text


def test_a_request_with_bad_fields_is_answered_and_the_connection_kept(worker: subprocess.Popen[bytes]) -> None:
    _send_raw(worker, msgpack.packb({"v": 1, "type": "fill", "id": 5, "prefix": 1}))
    err = _recv(worker)
    assert isinstance(err, ErrorReply) and err.id == 5
    _send(worker, FillRequest(id=9, prefix="x = ", suffix="\n", budgets=[4]))
    res = _recv(worker)
    assert isinstance(res, FillResult) and res.id == 9


def test_cancelled_fills_stop_and_the_next_one_is_served(worker: subprocess.Popen[bytes]) -> None:
    long = FillRequest(
        id=20, prefix="def f():\n    ", suffix="\n", budgets=[200] * 4, sampler=SamplerSettings(steps=200)
    )
    short = FillRequest(id=21, prefix="x = ", suffix="\n", budgets=[4], sampler=SamplerSettings(steps=200))
    _send(worker, long, short, Cancel(id=21))
    _send(worker, Cancel(id=20))  # while 20 is being decoded
    replies = {r.id: r for r in (_recv(worker), _recv(worker))}  # type: ignore[attr-defined]
    assert set(replies) == {20, 21}
    assert all(isinstance(r, ErrorReply) and r.message == "cancelled" for r in replies.values())
    _send(worker, FillRequest(id=22, prefix="y = ", suffix="\n", budgets=[4]), StatusRequest(id=23))
    first, second = _recv(worker), _recv(worker)
    res = first if isinstance(first, FillResult) else second
    status = second if isinstance(first, FillResult) else first
    assert isinstance(res, FillResult) and res.id == 22
    assert isinstance(status, WorkerStatus) and status.id == 23 and status.cancelled >= 2
    assert status.queued == 0


def test_a_fill_past_its_deadline_is_dropped(worker: subprocess.Popen[bytes]) -> None:
    slow = FillRequest(
        id=30, prefix="def f():\n    ", suffix="\n", budgets=[200] * 4, sampler=SamplerSettings(steps=200)
    )
    slow.deadline_ms = 50
    _send(worker, slow)
    reply = _recv(worker)
    assert isinstance(reply, ErrorReply) and reply.id == 30 and reply.message == "deadline exceeded"


def test_a_request_longer_than_the_context_is_cut_to_fit_and_logged() -> None:
    proc = _start()
    try:
        assert isinstance(_recv(proc), Ready)
        prefix = "".join(f"value_{i} = compute({i}, {i + 1})\n" for i in range(2000))
        _send(proc, FillRequest(id=1, prefix=prefix, suffix=prefix, budgets=[16]))
        res = _recv(proc)
        assert isinstance(res, FillResult) and res.id == 1 and res.candidates
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
        assert proc.stderr is not None
        log = proc.stderr.read().decode()
        assert "exceed the 256-token context" in log
        assert "value_1999" not in log  # token counts only, never the document
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize(
    "body",
    [
        b"\xc1 not msgpack",
        msgpack.packb({"v": 7, "type": "fill", "id": 6}),
        msgpack.packb({"v": 1, "type": "launch_missiles"}),
        msgpack.packb([1, 2, 3]),
    ],
)
def test_a_malformed_frame_gets_an_error_and_the_connection_is_dropped(body: bytes) -> None:
    proc = _start()
    try:
        assert isinstance(_recv(proc), Ready)
        _send_raw(proc, body)
        assert isinstance(_recv(proc), ErrorReply)
        assert proc.stdout is not None and proc.stdout.read() == b""  # nothing more on this connection
        assert proc.wait(timeout=30) == 0  # on stdio the connection is the process: it ends cleanly
    finally:
        proc.kill()
        proc.wait()
