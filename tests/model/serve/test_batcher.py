"""Continuous batching in one process: padded shared passes give each fill what it gets alone;
a pass out of memory is split, not lost; cancelled fills leave at a step boundary."""

from __future__ import annotations

import threading

import pytest
import torch

from model.checkpoint import DEFAULT_CHECKPOINT
from model.masked_engine import MaskedDiffusionEngine
from model.serve.batcher import Batcher, Job
from model.serve.steploop import StepLoop
from model.transformer import DiffusionLM
from model.wire.protocol import ErrorReply, FillRequest, FillResult, SamplerSettings
from tests.waiting import until


class _Fill:
    """A running fill as the loop sees it; `posting` is set once its thread is about to post."""

    def __init__(self) -> None:
        self.posting = threading.Event()

    def should_stop(self) -> bool:
        self.posting.set()
        return False


def _in_threads(
    loop: StepLoop, batches: list[torch.Tensor], pads: list[torch.Tensor | None], fills: list[_Fill] | None = None
) -> list[object]:
    out: list[object] = [None] * len(batches)

    def run(i: int) -> None:
        if fills is not None:
            loop.join(fills[i])
        try:
            out[i] = loop.logits(batches[i], pads[i])
        except Exception as exc:
            out[i] = exc
        finally:
            if fills is not None:
                loop.leave(fills[i])

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
    fills = [_Fill() for _ in range(3)]
    held = threading.Event()

    def forward(ids: torch.Tensor, pad: torch.Tensor | None) -> torch.Tensor:
        # The first pass waits until every fill is posting, so that on a busy machine too the
        # others are there for the next pass (rather than each arriving just after the last).
        if not held.is_set():
            held.set()
            for fill in fills:
                assert fill.posting.wait(60)
        return tiny_model.token_logits(ids, pad)

    loop = StepLoop(forward, pad_id=0, gather_s=0.2)
    batches, pads = _batches(tiny_model.config.vocab_size)
    got = _in_threads(loop, batches, pads, fills)
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
def engines() -> tuple[MaskedDiffusionEngine, Batcher]:
    engine = MaskedDiffusionEngine(DEFAULT_CHECKPOINT, threads=1)
    return engine, Batcher(engine, gather_s=0.05)  # the same engine serves alone and batched


REQUESTS = [
    FillRequest(id=1, prefix="def area(w, h):\n    ", suffix="\n", budgets=[8, 16, 32]),
    FillRequest(id=2, prefix="import os\n\ndef home():\n    return ", suffix="\n", budgets=[8]),
    FillRequest(id=3, prefix="for i in range(10):\n    ", suffix="\nprint('done')\n", budgets=[16, 4]),
    FillRequest(id=4, prefix="x = [", suffix="]\n", budgets=[12], sampler=SamplerSettings(steps=3, dual_cache=True)),
]


@pytest.mark.slow
def test_fills_batched_together_are_the_fills_made_alone(engines: tuple[MaskedDiffusionEngine, Batcher]) -> None:
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
def test_a_cancelled_fill_leaves_at_a_step_and_the_rest_go_on(engines: tuple[MaskedDiffusionEngine, Batcher]) -> None:
    _, batcher = engines
    answers: dict[int, FillResult | ErrorReply] = {}
    owner = object()
    slow = SamplerSettings(steps=200, refine_rounds=0)
    passes_at: dict[int, int] = {}  # the pass count when each answer came, read in the batcher's thread
    got_10 = threading.Event()

    def reply(m: FillResult | ErrorReply) -> None:
        passes_at[m.id] = batcher.loop.forward_passes  # type: ignore[index]
        answers[m.id] = m  # type: ignore[index]
        if m.id == 10:
            got_10.set()

    before = batcher.loop.forward_passes  # the module's engine: earlier tests' passes are counted too
    for i in (10, 11):
        req = FillRequest(id=i, prefix="def f():\n    ", suffix="\n", budgets=[200], sampler=slow)
        batcher.submit(Job(req, reply, owner))
    # Both fills are under way (their steps counted), however long a busy machine took to start them.
    until("the fills' first steps", lambda: batcher.running == 2 and batcher.loop.forward_passes >= before + 2)
    passes = batcher.loop.forward_passes
    batcher.cancel(owner, 10)
    assert batcher.wait_idle(0.0) is False
    assert got_10.wait(60)
    cancelled = answers[10]
    assert isinstance(cancelled, ErrorReply) and cancelled.message == "cancelled"
    # It left within a few steps of 200, not at the end (counted up to its own answer, not to
    # whenever this thread woke up: fill 11 keeps stepping meanwhile).
    assert passes_at[10] - passes < 20, (passes, passes_at[10])
    batcher.drop_owner(owner)
    assert batcher.wait_idle(60)
    assert batcher.queued == 0 and batcher.running == 0
