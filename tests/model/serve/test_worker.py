"""The worker as a real process on stdio (a server's private child) with the shipped checkpoint."""

from __future__ import annotations

import struct
import subprocess
from collections.abc import Iterator

import msgpack
import pytest

from model.checkpoint import DEFAULT_CHECKPOINT, weight_files
from model.wire.options import worker_command
from model.wire.protocol import (
    VERSION,
    Cancel,
    ErrorReply,
    FillRequest,
    FillResult,
    Progress,
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


def _ready(proc: subprocess.Popen[bytes]) -> tuple[list[Progress], object]:
    """The load's progress frames, and the first frame after them (ready, or an error)."""
    seen: list[Progress] = []
    while isinstance(msg := _recv(proc), Progress):
        seen.append(msg)
    return seen, msg


def _send(proc: subprocess.Popen[bytes], *msgs: object) -> None:
    assert proc.stdin is not None
    proc.stdin.write(b"".join(encode_frame(m) for m in msgs))
    proc.stdin.flush()


def _send_raw(proc: subprocess.Popen[bytes], body: bytes) -> None:
    assert proc.stdin is not None
    proc.stdin.write(struct.pack(">I", len(body)) + body)
    proc.stdin.flush()


def test_progress_then_ready_then_fill(worker: subprocess.Popen[bytes]) -> None:
    progress, ready = _ready(worker)
    assert isinstance(ready, Ready) and ready.parameters > 1_000_000 and ready.pid == worker.pid
    assert ready.device == "cpu"  # what `auto` chose here, not "auto"
    # The load reports its bytes: from nothing read to every byte of the shipped weights.
    weights = sum(p.stat().st_size for p in weight_files(DEFAULT_CHECKPOINT))  # one file or its shards
    assert len(progress) >= 2 and progress[0].done == 0 and progress[-1].done == progress[-1].total
    assert all(p.stage == "load" and p.total == progress[0].total for p in progress)
    assert 0.9 * weights < progress[0].total <= weights and ".safetensors" in progress[0].message
    assert [p.done for p in progress] == sorted(p.done for p in progress)
    req = FillRequest(id=1, prefix="def area(w, h):\n    ", suffix="\n", budgets=[8, 16], sampler=SamplerSettings())
    _send(worker, req)
    res = _recv(worker)
    assert isinstance(res, FillResult) and res.id == 1 and len(res.candidates) == 2
    best = res.candidates[0]
    assert best.mean_confidence >= res.candidates[1].mean_confidence
    assert len(best.tokens) == len(best.confidences) and all(0 <= c <= 1 for c in best.confidences)
    assert "<|mask|>" not in best.text


def test_a_request_with_bad_fields_is_answered_and_the_connection_kept(worker: subprocess.Popen[bytes]) -> None:
    _send_raw(worker, msgpack.packb({"v": VERSION, "type": "fill", "id": 5, "prefix": 1}))
    err = _recv(worker)
    assert isinstance(err, ErrorReply) and err.id == 5
    _send(worker, FillRequest(id=9, prefix="x = ", suffix="\n", budgets=[4]))
    res = _recv(worker)
    assert isinstance(res, FillResult) and res.id == 9


def test_unset_settings_are_the_familys_and_a_typing_request_gets_its_typing_profile(
    worker: subprocess.Popen[bytes],
) -> None:
    """Our family: full = the base (8 steps, 2 refinement rounds) with the dual cache, typing = 4
    steps, one refinement round, the dual cache; what a request sets wins over either."""

    def ask(req_id: int, sampler: SamplerSettings | None = None, profile: str = "full") -> FillRequest:
        settings = sampler or SamplerSettings()
        return FillRequest(req_id, "def area(w, h):\n    ", "\n", [16], settings, profile=profile)

    asked = [
        ask(40),
        ask(41, SamplerSettings(steps=8, refine_rounds=2, dual_cache=True)),
        ask(42, profile="typing"),
        ask(43, SamplerSettings(steps=8, refine_rounds=2, dual_cache=True), profile="typing"),
        ask(44, SamplerSettings(options={"canvas": 64})),
        ask(45, SamplerSettings(entropy_bound=0.2, infill="inpainting")),  # block diffusion's, not ours
    ]
    got: dict[int, object] = {}
    for req in asked:
        _send(worker, req)
        got[req.id] = _recv(worker)
    full, pinned, typing, typing_pinned = (got[i] for i in (40, 41, 42, 43))
    assert all(isinstance(r, FillResult) for r in (full, pinned, typing, typing_pinned))
    assert (full.forward_passes, full.candidates[0].text) == (pinned.forward_passes, pinned.candidates[0].text)
    assert 4 <= typing.forward_passes < full.forward_passes  # 4 steps, then one refinement round (if any doubts)
    assert (typing_pinned.forward_passes, typing_pinned.candidates[0].text) == (
        full.forward_passes,
        full.candidates[0].text,
    )
    refused = got[44]
    assert isinstance(refused, ErrorReply) and refused.id == 44
    assert "sampler options ['canvas'] are not settings of the masked-diffusion engine" in refused.message
    block = got[45]
    assert isinstance(block, ErrorReply) and block.id == 45
    assert "sampler.entropy_bound, sampler.infill: settings of the block-diffusion engine" in block.message


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
        assert isinstance(_ready(proc)[1], Ready)
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
    ("body", "says"),
    [
        (b"\xc1 not msgpack", "malformed msgpack"),
        (msgpack.packb({"v": 1, "type": "fill", "id": 6}), f"protocol version 1, this one speaks {VERSION}"),
        (msgpack.packb({"v": VERSION, "type": "launch_missiles"}), "unknown message type"),
        (msgpack.packb([1, 2, 3]), "a frame must hold a map"),
    ],
)
def test_a_malformed_frame_gets_an_error_and_the_connection_is_dropped(body: bytes, says: str) -> None:
    proc = _start()
    try:
        assert isinstance(_ready(proc)[1], Ready)
        _send_raw(proc, body)
        err = _recv(proc)
        assert isinstance(err, ErrorReply) and says in err.message, err
        assert proc.stdout is not None and proc.stdout.read() == b""  # nothing more on this connection
        assert proc.wait(timeout=30) == 0  # on stdio the connection is the process: it ends cleanly
    finally:
        proc.kill()
        proc.wait()


def test_load_progress_is_thinned_but_the_first_and_the_last_report_always_go() -> None:
    from model.serve.worker import reporter

    sent: list[Progress] = []
    report = reporter(sent.append, every_s=60.0)
    for done in (0, 10, 50, 99, 100):
        report(done, 100, "model-00001-of-00002.safetensors (1 of 2)")
    assert [(p.stage, p.done, p.total) for p in sent] == [("load", 0, 100), ("load", 100, 100)]
    every = reporter(sent.append, every_s=0.0)
    sent.clear()
    for done in (0, 10, 50):
        every(done, 100, "x")
    assert [p.done for p in sent] == [0, 10, 50]
