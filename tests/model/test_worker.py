"""The worker as a real process with the shipped checkpoint, spoken to in protocol frames."""

from __future__ import annotations

import struct
import subprocess
import sys
from collections.abc import Iterator

import msgpack
import pytest

from model.protocol import (
    ErrorReply,
    FillRequest,
    FillResult,
    Ready,
    SamplerSettings,
    encode_frame,
    from_wire,
    read_frame,
)

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def worker() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-m", "model.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    yield proc
    proc.kill()
    proc.wait()


def _recv(proc: subprocess.Popen[bytes]) -> object:
    assert proc.stdout is not None
    return from_wire(read_frame(proc.stdout))


def _send_raw(proc: subprocess.Popen[bytes], body: bytes) -> None:
    assert proc.stdin is not None
    proc.stdin.write(struct.pack(">I", len(body)) + body)
    proc.stdin.flush()


def test_ready_then_fill(worker: subprocess.Popen[bytes]) -> None:
    ready = _recv(worker)
    assert isinstance(ready, Ready) and ready.parameters > 1_000_000
    req = FillRequest(id=1, prefix="def area(w, h):\n    ", suffix="\n", budgets=[8, 16], sampler=SamplerSettings())
    _send_raw(worker, encode_frame(req)[4:])
    res = _recv(worker)
    assert isinstance(res, FillResult) and res.id == 1 and len(res.candidates) == 2
    best = res.candidates[0]
    assert best.mean_confidence >= res.candidates[1].mean_confidence
    assert len(best.tokens) == len(best.confidences) and all(0 <= c <= 1 for c in best.confidences)
    assert "<|mask|>" not in best.text


def test_malformed_frames_get_errors_and_the_worker_keeps_serving(worker: subprocess.Popen[bytes]) -> None:
    _send_raw(worker, b"\xc1 not msgpack")
    assert isinstance(_recv(worker), ErrorReply)
    _send_raw(worker, msgpack.packb({"v": 1, "type": "fill", "id": 5, "prefix": 1}))
    err = _recv(worker)
    assert isinstance(err, ErrorReply) and err.id == 5
    _send_raw(worker, msgpack.packb({"v": 7, "type": "fill", "id": 6}))
    assert isinstance(_recv(worker), ErrorReply)
    req = FillRequest(id=9, prefix="x = ", suffix="\n", budgets=[4])
    _send_raw(worker, encode_frame(req)[4:])
    res = _recv(worker)
    assert isinstance(res, FillResult) and res.id == 9


def test_a_cancelled_fill_stops_and_the_next_one_is_served(worker: subprocess.Popen[bytes]) -> None:
    long = FillRequest(
        id=20, prefix="def f():\n    ", suffix="\n", budgets=[200] * 4, sampler=SamplerSettings(steps=200)
    )
    queued = FillRequest(id=21, prefix="x = ", suffix="\n", budgets=[4])
    assert worker.stdin is not None
    worker.stdin.write(encode_frame(long) + encode_frame(queued) + encode_frame({"type": "cancel", "id": 21}))
    worker.stdin.flush()
    worker.stdin.write(encode_frame({"type": "cancel", "id": 20}))  # while 20 is being decoded
    worker.stdin.flush()
    first, second = _recv(worker), _recv(worker)
    assert isinstance(first, ErrorReply) and first.id == 20 and first.message == "cancelled"
    assert isinstance(second, ErrorReply) and second.id == 21 and second.message == "cancelled"  # never started
    _send_raw(worker, encode_frame(FillRequest(id=22, prefix="y = ", suffix="\n", budgets=[4]))[4:])
    res = _recv(worker)
    assert isinstance(res, FillResult) and res.id == 22
