"""The step loop: rows of many fills share one padded pass and each fill gets, at the columns it
asked for, the logits it gets alone; only those columns ever reach the output layer; a pass out
of memory is split, not lost."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest
import torch
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

from model.engine import Forward
from model.serve.steploop import StepLoop
from model.transformer import DiffusionLM, ModelConfig

VOCAB = 301  # no other tensor of the pass ends in this size: the logit tensors are the ones that do


class _Fill:
    """A running fill as the loop sees it; `posting` is set once its thread is about to post."""

    def __init__(self) -> None:
        self.posting = threading.Event()

    def should_stop(self) -> bool:
        self.posting.set()
        return False


@dataclass
class _Ask:
    """One fill's call: its rows, their own key padding, the columns it wants scored (None: all)."""

    ids: torch.Tensor
    pad: torch.Tensor | None = None
    cols: torch.Tensor | None = None

    @property
    def positions(self) -> int:
        return self.ids.shape[0] * (self.ids.shape[1] if self.cols is None else len(self.cols))


def _asks(few_columns: bool = False) -> list[_Ask]:
    """Fills of different widths and columns: shared column 0 and 1 (the shift's clamp), a row that
    carries its own padding, a fill that asks for every column (unless `few_columns`)."""
    gen = torch.Generator(device="cpu").manual_seed(1)

    def rows(n: int, width: int) -> torch.Tensor:
        return torch.randint(4, VOCAB, (n, width), generator=gen, device="cpu")

    pad = torch.ones(1, 17, dtype=torch.bool, device="cpu")
    pad[0, 12:] = False
    every = None if not few_columns else torch.tensor([2], device="cpu")
    return [
        _Ask(rows(2, 9), cols=torch.tensor([0, 1, 4, 8], device="cpu")),
        _Ask(rows(1, 17), pad, cols=torch.tensor([0, 2, 5, 11], device="cpu")),
        _Ask(rows(3, 5), cols=every),
        _Ask(rows(2, 12), cols=torch.arange(3, 10, device="cpu")),
    ]


def _in_threads(loop: StepLoop, asks: list[_Ask], fills: list[_Fill] | None = None) -> list[object]:
    out: list[object] = [None] * len(asks)

    def run(i: int) -> None:
        if fills is not None:
            loop.join(fills[i])
        try:
            out[i] = loop.logits(asks[i].ids, asks[i].pad, asks[i].cols)
        except Exception as exc:
            out[i] = exc
        finally:
            if fills is not None:
                loop.leave(fills[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(asks))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def _shared(model: DiffusionLM) -> Forward:
    """What MaskedDiffusionEngine.shared_pass hands the loop."""
    return lambda ids, pad, at: model.token_logits(ids, pad, cols=at)


def _held(forward: Forward, fills: list[_Fill]) -> Forward:
    """The first pass waits until every fill is posting, so that on a busy machine too the others
    are there for the next pass (rather than each arriving just after the last)."""
    held = threading.Event()

    def run(ids: torch.Tensor, pad: torch.Tensor | None, at: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        if not held.is_set():
            held.set()
            for fill in fills:
                assert fill.posting.wait(60)
        return forward(ids, pad, at)

    return run


def _alone(model: DiffusionLM, ask: _Ask) -> torch.Tensor:
    with torch.no_grad():
        return model.token_logits(ask.ids, ask.pad, cols=ask.cols)


def _assert_as_alone(model: DiffusionLM, asks: list[_Ask], got: list[object]) -> None:
    for ask, logits in zip(asks, got, strict=True):
        assert isinstance(logits, torch.Tensor)
        torch.testing.assert_close(logits, _alone(model, ask), atol=1e-5, rtol=1e-4)


@pytest.fixture(params=[False, True], ids=["no-shift", "shift"])
def model(request: pytest.FixtureRequest) -> DiffusionLM:
    torch.manual_seed(0)
    cfg = ModelConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        shift_logits=request.param,
    )
    return DiffusionLM(cfg).eval()


def test_each_fill_gets_its_columns_as_it_would_alone(model: DiffusionLM) -> None:
    asks, fills = _asks(), [_Fill() for _ in range(4)]
    loop = StepLoop(_held(_shared(model), fills), pad_id=0, gather_s=0.2)
    _assert_as_alone(model, asks, _in_threads(loop, asks, fills))
    assert loop.rows_run == 8 and loop.forward_passes < 4  # at least two fills shared a pass


class _Allocations(TorchDispatchMode):
    """The most positions any logit tensor made in the pass holds (views allocate nothing)."""

    def __init__(self) -> None:
        super().__init__()
        self.most = 0

    def __torch_dispatch__(
        self, func: torch._ops.OpOverload, types: object, args: tuple = (), kwargs: dict | None = None
    ) -> object:
        out = func(*args, **(kwargs or {}))
        if any(r.alias_info is not None for r in func._schema.returns):
            return out  # a view (the output layer's transposed weight) allocates nothing
        for t in pytree.tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.dim() and t.shape[-1] == VOCAB:
                self.most = max(self.most, t.numel() // VOCAB)
        return out


def test_the_output_layer_sees_only_the_asked_for_columns(model: DiffusionLM) -> None:
    asks = _asks(few_columns=True)
    inputs: list[tuple[int, ...]] = []
    hook = model.lm_head.register_forward_pre_hook(lambda _, args: inputs.append(tuple(args[0].shape)))
    mode = _Allocations()

    def forward(ids: torch.Tensor, pad: torch.Tensor | None, at: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        with mode:  # modes are per thread: this is the loop's
            return model.token_logits(ids, pad, cols=at)

    fills = [_Fill() for _ in asks]
    loop = StepLoop(_held(forward, fills), pad_id=0, gather_s=0.2)
    try:
        got = _in_threads(loop, asks, fills)
    finally:
        hook.remove()
    _assert_as_alone(model, asks, got)
    asked = sum(a.positions for a in asks)
    assert all(len(shape) == 2 for shape in inputs)  # (positions, hidden): packed, never (B, T, d)
    assert sum(shape[0] for shape in inputs) == asked
    every = sum(a.ids.shape[0] for a in asks) * max(a.ids.shape[1] for a in asks)  # what one pass had
    assert 0 < mode.most <= asked and asked * 4 < every
    # Each fill's rows ran in one pass: it gets a view of that pass's output, never a copy.
    assert all(isinstance(t, torch.Tensor) and t._base is not None for t in got)


def test_a_pass_out_of_memory_is_split_and_retried(model: DiffusionLM) -> None:
    def forward(ids: torch.Tensor, pad: torch.Tensor | None, at: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        if ids.shape[0] > 2:  # what a GPU does with a batch too large for it
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return model.token_logits(ids, pad, cols=at)

    loop = StepLoop(forward, pad_id=0, gather_s=0.2)
    asks = _asks()
    _assert_as_alone(model, asks, _in_threads(loop, asks))
    assert loop.oom_splits >= 1


def test_a_row_out_of_memory_alone_fails_only_its_own_call(model: DiffusionLM) -> None:
    def forward(ids: torch.Tensor, pad: torch.Tensor | None, at: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        if ids.shape[1] > 12:
            raise RuntimeError("CUDA error: out of memory")
        return model.token_logits(ids, pad, cols=at)

    loop = StepLoop(forward, pad_id=0, gather_s=0.2)
    asks = _asks()
    got = _in_threads(loop, asks)
    assert isinstance(got[1], RuntimeError) and "out of memory" in str(got[1])  # the 17-wide row
    _assert_as_alone(model, [asks[i] for i in (0, 2, 3)], [got[i] for i in (0, 2, 3)])
