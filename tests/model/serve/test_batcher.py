"""Continuous batching in one process: fills batched together get what they get alone; cancelled
fills leave at a step boundary. The step loop itself is tested in test_steploop.py."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from model.checkpoint import DEFAULT_CHECKPOINT
from model.engine import LoadOptions
from model.masked_engine import MaskedDiffusionEngine
from model.serve.batcher import Batcher, Job
from model.wire.protocol import ErrorReply, FillRequest, FillResult, SamplerSettings
from tests.waiting import until


def _answers(batcher: Batcher, requests: list[FillRequest]) -> dict[int, FillResult | ErrorReply]:
    answers: dict[int, FillResult | ErrorReply] = {}
    done = threading.Event()

    def reply(msg: FillResult | ErrorReply) -> None:
        answers[msg.id] = msg  # type: ignore[index]
        if len(answers) == len(requests):
            done.set()

    for req in requests:
        batcher.submit(Job(req, reply, owner=None))
    assert done.wait(120)
    return answers


UNCACHED = SamplerSettings(dual_cache=False)  # plain passes share the batch; cached ones run alone
TINY_REQUESTS = [
    FillRequest(id=21, prefix="def add(a, b):\n    ", suffix="\n", budgets=[4, 9], sampler=UNCACHED),
    FillRequest(id=22, prefix="for i in range(3):\n    ", suffix="\nprint(i)\n", budgets=[6], sampler=UNCACHED),
    FillRequest(id=23, prefix="x = [", suffix="]\n", budgets=[5], sampler=SamplerSettings(steps=3, dual_cache=True)),
    FillRequest(id=24, prefix="def add(a, b):\n    ", suffix="\n", draft="return a + b", remask_below=0.5),
]


@pytest.mark.parametrize("shift", [False, True], ids=["no-shift", "shift"])
def test_a_tiny_engine_fills_the_same_batched_as_alone(tiny_checkpoint: Path, shift: bool) -> None:
    """Every kind of pass a fill makes (its gap's columns, a cached pass alone, a draft scored at
    every column) goes through the batch and comes back as the engine makes it alone."""
    engine = MaskedDiffusionEngine(tiny_checkpoint, LoadOptions(threads=1))
    engine.model.config.shift_logits = shift
    batcher = Batcher(engine, gather_s=0.05)
    answers = _answers(batcher, TINY_REQUESTS)
    assert batcher.loop.rows_run > batcher.loop.forward_passes  # rows did share passes
    for req in TINY_REQUESTS:
        got, want = answers[req.id], engine.fill(req)
        assert isinstance(got, FillResult)
        assert [c.text for c in got.candidates] == [c.text for c in want.candidates]
        for a, b in zip(got.candidates, want.candidates, strict=True):
            assert a.confidences == pytest.approx(b.confidences, abs=1e-3)


@pytest.fixture(scope="module")
def engines() -> tuple[MaskedDiffusionEngine, Batcher]:
    engine = MaskedDiffusionEngine(DEFAULT_CHECKPOINT, LoadOptions(threads=1))
    return engine, Batcher(engine, gather_s=0.05)  # the same engine serves alone and batched


REQUESTS = [
    FillRequest(id=1, prefix="def area(w, h):\n    ", suffix="\n", budgets=[8, 16, 32], sampler=UNCACHED),
    FillRequest(id=2, prefix="import os\n\ndef home():\n    return ", suffix="\n", budgets=[8], sampler=UNCACHED),
    FillRequest(
        id=3, prefix="for i in range(10):\n    ", suffix="\nprint('done')\n", budgets=[16, 4], sampler=UNCACHED
    ),
    FillRequest(id=4, prefix="x = [", suffix="]\n", budgets=[12], sampler=SamplerSettings(steps=3, dual_cache=True)),
]


@pytest.mark.slow
def test_fills_batched_together_are_the_fills_made_alone(engines: tuple[MaskedDiffusionEngine, Batcher]) -> None:
    alone, batcher = engines
    answers = _answers(batcher, REQUESTS)
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
