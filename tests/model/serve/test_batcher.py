"""Continuous batching in one process: padded shared passes give each fill what it gets alone;
a pass out of memory is split, not lost; cancelled fills leave at a step boundary."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from model.checkpoint import DEFAULT_CHECKPOINT
from model.engine import FillEngine
from model.serve.batcher import Batcher, Job
from model.serve.steploop import StepLoop
from model.transformer import DiffusionLM
from model.wire.protocol import ErrorReply, FillRequest, FillResult, SamplerSettings


def _in_threads(loop: StepLoop, batches: list[torch.Tensor], pads: list[torch.Tensor | None]) -> list[object]:
    out: list[object] = [None] * len(batches)

    def run(i: int) -> None:
        try:
            out[i] = loop.logits(batches[i], pads[i])
        except Exception as exc:
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def _batches(vocab: int) -> tuple[list[torch.Tensor], list[torch.Tensor | None]]:
    gen = torch.Generator().manual_seed(1)
    batches = [torch.randint(4, vocab, (rows, width), generator=gen) for rows, width in ((2, 9), (1, 17), (3, 5))]
    pad = torch.ones(1, 17, dtype=torch.bool)
    pad[0, 12:] = False  # a row that carries its own padding already
    return batches, [None, pad, None]


def test_rows_of_different_widths_share_a_pass_and_get_their_own_logits(tiny_model: DiffusionLM) -> None:
    loop = StepLoop(tiny_model.token_logits, pad_id=0, gather_s=0.2)
    batches, pads = _batches(tiny_model.config.vocab_size)
    got = _in_threads(loop, batches, pads)
    with torch.no_grad():
        for ids, pad, logits in zip(batches, pads, got, strict=True):
            alone = tiny_model.token_logits(ids, pad)
            assert isinstance(logits, torch.Tensor) and logits.shape == alone.shape
            keep = pad if pad is not None else torch.ones(ids.shape, dtype=torch.bool)
            torch.testing.assert_close(logits[keep], alone[keep], atol=1e-5, rtol=1e-4)
    assert loop.rows_run == 6 and loop.forward_passes < 3  # at least two calls shared a pass


def test_a_pass_out_of_memory_is_split_and_retried(tiny_model: DiffusionLM) -> None:
    def forward(ids: torch.Tensor, pad: torch.Tensor | None) -> torch.Tensor:
        if ids.shape[0] > 2:  # what a GPU does with a batch too large for it
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return tiny_model.token_logits(ids, pad)

    loop = StepLoop(forward, pad_id=0, gather_s=0.2)
    batches, pads = _batches(tiny_model.config.vocab_size)
    got = _in_threads(loop, batches, pads)
    with torch.no_grad():
        for ids, pad, logits in zip(batches, pads, got, strict=True):
            assert isinstance(logits, torch.Tensor)
            keep = pad if pad is not None else torch.ones(ids.shape, dtype=torch.bool)
            torch.testing.assert_close(logits[keep], tiny_model.token_logits(ids, pad)[keep], atol=1e-5, rtol=1e-4)
    assert loop.oom_splits >= 1


def test_a_row_out_of_memory_alone_fails_only_its_own_call(tiny_model: DiffusionLM) -> None:
    def forward(ids: torch.Tensor, pad: torch.Tensor | None) -> torch.Tensor:
        if ids.shape[1] > 12:
            raise RuntimeError("CUDA error: out of memory")
        return tiny_model.token_logits(ids, pad)

    loop = StepLoop(forward, pad_id=0, gather_s=0.2)
    batches, pads = _batches(tiny_model.config.vocab_size)
    got = _in_threads(loop, batches, pads)
    assert isinstance(got[1], RuntimeError) and "out of memory" in str(got[1])  # the 17-wide row
    assert isinstance(got[0], torch.Tensor) and isinstance(got[2], torch.Tensor)


@pytest.fixture(scope="module")
def engines() -> tuple[FillEngine, Batcher]:
    alone = FillEngine(DEFAULT_CHECKPOINT, threads=1)
    shared = FillEngine(DEFAULT_CHECKPOINT, threads=1)
    return alone, Batcher(shared, gather_s=0.05)


REQUESTS = [
    FillRequest(id=1, prefix="def area(w, h):\n    ", suffix="\n", budgets=[8, 16, 32]),
    FillRequest(id=2, prefix="import os\n\ndef home():\n    return ", suffix="\n", budgets=[8]),
    FillRequest(id=3, prefix="for i in range(10):\n    ", suffix="\nprint('done')\n", budgets=[16, 4]),
    FillRequest(id=4, prefix="x = [", suffix="]\n", budgets=[12], sampler=SamplerSettings(steps=3, dual_cache=True)),
]


@pytest.mark.slow
def test_fills_batched_together_are_the_fills_made_alone(engines: tuple[FillEngine, Batcher]) -> None:
    alone, batcher = engines
    answers: dict[int, FillResult | ErrorReply] = {}
    done = threading.Event()

    def reply(msg: FillResult | ErrorReply) -> None:
        answers[msg.id] = msg  # type: ignore[index]
        if len(answers) == len(REQUESTS):
            done.set()

    for req in REQUESTS:
        batcher.submit(Job(req, reply, owner=None))
    assert done.wait(120)
    assert batcher.loop.rows_run > batcher.loop.forward_passes  # rows did share passes
    for req in REQUESTS:
        got, want = answers[req.id], alone.fill(req)
        assert isinstance(got, FillResult)
        assert [c.text for c in got.candidates] == [c.text for c in want.candidates]


@pytest.mark.slow
def test_a_cancelled_fill_leaves_at_a_step_and_the_rest_go_on(engines: tuple[FillEngine, Batcher]) -> None:
    _, batcher = engines
    answers: dict[int, FillResult | ErrorReply] = {}
    owner = object()
    slow = SamplerSettings(steps=200, refine_rounds=0)
    for i in (10, 11):
        req = FillRequest(id=i, prefix="def f():\n    ", suffix="\n", budgets=[200], sampler=slow)
        batcher.submit(Job(req, lambda m: answers.__setitem__(m.id, m), owner))  # type: ignore[arg-type]
    time.sleep(0.3)
    passes = batcher.loop.forward_passes
    batcher.cancel(owner, 10)
    assert batcher.wait_idle(0.0) is False
    until = time.monotonic() + 60
    while 10 not in answers:
        assert time.monotonic() < until
        time.sleep(0.01)
    cancelled = answers[10]
    assert isinstance(cancelled, ErrorReply) and cancelled.message == "cancelled"
    assert batcher.loop.forward_passes - passes < 10  # it left within a step or two, not at the end
    batcher.drop_owner(owner)
    assert batcher.wait_idle(60)
    assert batcher.queued == 0 and batcher.running == 0
