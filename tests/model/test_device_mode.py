"""Real fills on the shipped checkpoint make every tensor and generator on a device they name.

The runtime twin of tests/model/test_device_rules.py: a `TorchFunctionMode` sees each factory call
as it happens (whatever name it was reached by) and records those without an explicit device whose
caller is code in model/ (torch's own internals are not ours). `torch.Generator` is a class, not a
torch function, so the mode cannot see it: the test swaps it for a recording stand-in that hands
back a real generator. Torch modes are per thread, so the batched path's threads (the fills' and
the step loop's) enter the mode too. Each fill runs the sampler paths a CUDA fill takes: greedy
and sampled, random order, dual cache on and off, blocks, a revision, a joint fill, the batch.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import torch
from torch.overrides import TorchFunctionMode

from model.checkpoint import DEFAULT_CHECKPOINT
from model.engine import LoadOptions
from model.masked_engine import MaskedDiffusionEngine
from model.serve.batcher import Batcher, Job
from model.wire.protocol import ErrorReply, FillRequest, FillResult, SamplerSettings
from tests.model.test_device_rules import FACTORIES

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "model"
TORCH = Path(torch.__file__).resolve().parent
REAL_GENERATOR = torch.Generator


class Record:
    """Factory calls made from model/ without a device, as "file:line in function: call"."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.offending: list[str] = []
        self.seen = 0  # every factory call from model/, with or without a device

    def note(self, name: str, kwargs: dict[str, Any], frame: FrameType | None) -> None:
        caller = _caller(frame)
        if caller is None:
            return
        with self.lock:
            self.seen += 1
            if kwargs.get("device") is None:
                rel = Path(caller.f_code.co_filename).resolve().relative_to(REPO)
                self.offending.append(f"{rel}:{caller.f_lineno} in {caller.f_code.co_name}: torch.{name}")


def _caller(frame: FrameType | None) -> FrameType | None:
    """The frame that made the call, if it is code in model/; None when torch itself made it."""
    while frame is not None and Path(frame.f_code.co_filename) == Path(__file__):
        frame = frame.f_back
    if frame is None:
        return None
    path = Path(frame.f_code.co_filename).resolve()
    return frame if path.is_relative_to(MODEL) and not path.is_relative_to(TORCH) else None


class FactoryMode(TorchFunctionMode):
    def __init__(self, record: Record) -> None:
        super().__init__()
        self.record = record

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if getattr(func, "__name__", None) in FACTORIES:
            self.record.note(func.__name__, kwargs, inspect.currentframe())
        return func(*args, **kwargs)


def _recording_generator(record: Record) -> type:
    class Meta(type):
        def __instancecheck__(cls, obj: object) -> bool:  # torch's own isinstance checks still hold
            return isinstance(obj, REAL_GENERATOR)

    class Generator(metaclass=Meta):
        def __new__(cls, *args: Any, **kwargs: Any) -> torch.Generator:  # type: ignore[misc]
            given = kwargs if "device" in kwargs or not args else {"device": args[0]}
            record.note("Generator", given, inspect.currentframe())
            return REAL_GENERATOR(*args, **kwargs)

    return Generator


@pytest.fixture()
def engine() -> MaskedDiffusionEngine:
    """A fresh engine per test (loaded before the mode starts: loading is not under test here), so
    no tensor an earlier fill cached hides the call that makes it."""
    return MaskedDiffusionEngine(DEFAULT_CHECKPOINT, LoadOptions(threads=1))


@pytest.fixture()
def record(monkeypatch: pytest.MonkeyPatch) -> Iterator[Record]:
    """Factory calls of the test body, in this thread and in every thread started meanwhile."""
    rec = Record()
    monkeypatch.setattr(torch, "Generator", _recording_generator(rec))
    base = threading.Thread

    class ModeThread(base):  # type: ignore[misc, valid-type]
        def run(self) -> None:
            with FactoryMode(rec):
                super().run()

    monkeypatch.setattr(threading, "Thread", ModeThread)
    with FactoryMode(rec):
        yield rec


def _fail_on(rec: Record) -> None:
    assert rec.seen > 0, "the mode saw no factory call from model/: it is not watching"
    found = sorted(set(rec.offending))
    assert not found, "tensors or generators made without a device:\n" + "\n".join(found)


S = SamplerSettings
PREFIX, SUFFIX = "def area(w, h):\n    ", "\n\nprint(area(2, 3))\n"
FILLS = {
    "greedy": FillRequest(id=1, prefix=PREFIX, suffix=SUFFIX, budgets=[6, 12], sampler=S(steps=3)),
    "a prefix ending mid-word": FillRequest(
        id=8, prefix=PREFIX + "ret", suffix=SUFFIX, budgets=[6], sampler=S(steps=3)
    ),
    "sampled, random order, cache": FillRequest(
        id=2,
        prefix=PREFIX,
        suffix=SUFFIX,
        budgets=[8],
        sampler=S(steps=3, temperature=0.8, order="random", seed=5, dual_cache=True),
    ),
    "sampled, blocks, no cache": FillRequest(
        id=3, prefix=PREFIX, suffix=SUFFIX, budgets=[8], sampler=S(steps=4, temperature=0.8, top_p=0.9, block=4)
    ),
    "threshold, margin order, cache": FillRequest(
        id=4, prefix=PREFIX, suffix=SUFFIX, budgets=[8], sampler=S(threshold=0.9, order="margin", dual_cache=True)
    ),
    "revise a draft's ranges": FillRequest(
        id=5, prefix=PREFIX, suffix=SUFFIX, draft="return w * h", remask=[[7, 8]], sampler=S(steps=2, temperature=0.8)
    ),
    "revise where the model doubts the draft": FillRequest(
        id=6, prefix=PREFIX, suffix=SUFFIX, draft="return w + h", remask_below=0.5, sampler=S(steps=2)
    ),
    "joint holes with context": FillRequest(
        id=7,
        prefix="def f(x):\n    y = ",
        suffix="\n",
        holes=["...", "..."],
        between=["\n    return "],
        budgets=[4],
        context="def g(a):\n    return a\n",
        sampler=S(steps=2, temperature=0.8, order="entropy"),
    ),
}


@pytest.mark.parametrize("name", list(FILLS))
def test_a_fill_makes_nothing_off_the_device(name: str, engine: MaskedDiffusionEngine, record: Record) -> None:
    result = engine.fill(FILLS[name])
    assert result.candidates
    _fail_on(record)


def test_batched_fills_make_nothing_off_the_device(engine: MaskedDiffusionEngine, record: Record) -> None:
    batcher = Batcher(engine, gather_s=0.05)  # built under the test: its step-loop thread is watched
    answers: dict[int, FillResult | ErrorReply] = {}
    done = threading.Event()
    reqs = [FILLS["greedy"], FILLS["sampled, random order, cache"], FILLS["revise a draft's ranges"]]

    def reply(msg: FillResult | ErrorReply) -> None:
        answers[msg.id] = msg
        if len(answers) == len(reqs):
            done.set()

    for req in reqs:
        batcher.submit(Job(req, reply, owner=None))
    assert done.wait(120), "the batched fills did not finish"
    failed = {i: a.message for i, a in answers.items() if isinstance(a, ErrorReply)}
    assert not failed, f"batched fills failed: {failed}"
    _fail_on(record)
