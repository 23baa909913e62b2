"""The block sampler's own parts (model/block_sampler.py): settings, the temperature schedule, the
entropy-bound choice, held positions, revise, refinement rounds and stopping at a step boundary,
on a tiny random DiffusionGemma (512-token vocabulary, 32-token canvas) through DirectRunner."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch

from model.block_decode import DirectRunner, generate
from model.block_sampler import (
    BlockSettings,
    CanvasResult,
    Held,
    StableAndConfident,
    accept_mask,
    denoise_canvas,
    refine_canvas,
    revise_canvas,
    temperature,
)
from model.engine import Stopped
from tests.model.gemma.folders import tiny_model
from tests.model.gemma.published import GENERATION_CONFIG

VOCAB = 512
CANVAS = 32
CPU = torch.device("cpu")
STEPS = BlockSettings(max_steps=12)


@pytest.fixture(scope="module")
def model() -> Any:
    m = tiny_model(seed=0, canvas=CANVAS, text={"vocab_size": VOCAB})
    with torch.no_grad():
        m.model.decoder.norm.weight.mul_(60.0)  # sharp enough that steps accept several tokens
    return m


@dataclass
class Recording:
    """A DirectRunner that keeps every decoder pass's canvas and logits."""

    inner: DirectRunner
    canvases: list[torch.Tensor] = field(default_factory=list)
    logits: list[torch.Tensor] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def encode(self, ids: torch.Tensor) -> None:
        self.inner.encode(ids)

    def decode(self, canvas: torch.Tensor, self_cond: torch.Tensor | None) -> torch.Tensor:
        out = self.inner.decode(canvas, self_cond)
        self.canvases.append(canvas.clone())
        self.logits.append(out.clone())
        return out


def _runner(model: Any, rows: int = 1) -> DirectRunner:
    runner = DirectRunner(model, rows, CPU)
    runner.encode(torch.randint(3, VOCAB, (rows, 10), generator=torch.Generator().manual_seed(1)))
    return runner


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator(device=CPU).manual_seed(seed)


@pytest.fixture()
def decoder_inputs(model: Any) -> Iterator[list[torch.Tensor]]:
    """Every canvas the decoder module is given, seen by a hook on its input."""
    seen: list[torch.Tensor] = []

    def hook(_module: Any, _args: Any, kwargs: dict[str, Any]) -> None:
        seen.append(kwargs["decoder_input_ids"].clone())

    handle = model.model.decoder.register_forward_pre_hook(hook, with_kwargs=True)
    yield seen
    handle.remove()


def test_settings_come_from_the_generation_config_over_the_reference_defaults() -> None:
    published = BlockSettings.from_config(GENERATION_CONFIG)
    assert published == BlockSettings()  # the checkpoint's file says what the reference defaults say
    assert BlockSettings.from_config({}) == BlockSettings.from_config(None) == BlockSettings()
    mine = BlockSettings.from_config(
        {"sampler_config": {"entropy_bound": 0.3}, "max_denoising_steps": 24}, t_max=1.0, tau=0.2, t_min=None
    )
    assert (mine.entropy_bound, mine.max_steps, mine.t_max, mine.t_min, mine.tau) == (0.3, 24, 1.0, 0.4, 0.2)
    assert BlockSettings.from_config(None, t_min=0.5, t_max=0.5).t_min == 0.5  # a flat schedule
    with pytest.raises(ValueError, match="unknown"):
        BlockSettings.from_config(None, steps=3)
    for bad in ({"t_min": 0.9}, {"entropy_bound": 0.0}, {"max_steps": 0}, {"tau": 2.0}):
        with pytest.raises(ValueError):
            BlockSettings.from_config(None, **bad)


def test_the_temperature_falls_from_t_max_towards_t_min_in_float32() -> None:
    s = BlockSettings(t_max=0.8, t_min=0.4, max_steps=4)
    ts = [temperature(s, left, CPU) for left in range(4, 0, -1)]
    assert all(t is not None and t.dtype == torch.float32 and t.ndim == 0 for t in ts)
    values = [float(t) for t in ts if t is not None]
    assert values == pytest.approx([0.8, 0.7, 0.6, 0.5])  # t_min + (t_max - t_min) * left / max_steps
    assert temperature(BlockSettings(t_max=None, t_min=None), 3, CPU) is None


def test_the_entropy_bound_takes_the_surest_tokens_whose_sum_less_its_largest_fits() -> None:
    entropy = torch.tensor([[0.01, 0.05, 0.02, 1.0, 0.5]])
    # ascending 0.01 0.02 0.05 0.5 1.0; sum less largest 0, .01, .03, .08, .58: the first four fit 0.1
    assert accept_mask(entropy, 0.1, None).tolist() == [[True, True, True, False, True]]
    held = torch.tensor([[True, False, False, False, False]])
    # held 0.01 out: 0.02 0.05 0.5 1.0 -> 0, .02, .07, .57
    assert accept_mask(entropy, 0.1, held).tolist() == [[False, True, True, False, True]]


def test_held_positions_take_no_part_in_the_early_stop() -> None:
    held = torch.tensor([[False, False, True]])
    entropy = torch.tensor([[0.0, 0.0, 6.0]])
    stopper, plain = StableAndConfident(1, 0.005, held), StableAndConfident(1, 0.005, None)
    for argmax in (torch.tensor([[5, 6, 7]]), torch.tensor([[5, 6, 9]])):  # only the held one changes
        stops, plain_stops = stopper(argmax, entropy), plain(argmax, entropy)
    assert stops.tolist() == [True] and plain_stops.tolist() == [False]


def _held_suffix(rows: int = 1, first: int = 24) -> Held:
    mask = torch.zeros(rows, CANVAS, dtype=torch.bool)
    mask[:, first:] = True
    return Held(mask, torch.randint(3, VOCAB, (rows, CANVAS), generator=torch.Generator().manual_seed(2)))


def test_held_positions_are_on_every_decoder_input_and_never_accepted(
    model: Any, decoder_inputs: list[torch.Tensor]
) -> None:
    held = _held_suffix()
    bias = torch.zeros(CANVAS, VOCAB).scatter(-1, held.tokens[0][:, None], 30.0) * held.mask[0][:, None]
    handle = model.lm_head.register_forward_hook(lambda _m, _a, out: out + bias)  # held: the surest positions
    try:
        runner = Recording(_runner(model))
        result = denoise_canvas(runner, STEPS, _gen(), held=held)  # type: ignore[arg-type]
    finally:
        handle.remove()
    assert len(decoder_inputs) == result.steps == len(runner.logits) > 1
    for canvas in decoder_inputs:
        assert torch.equal(canvas[held.mask], held.tokens[held.mask])
    for step, logits in enumerate(runner.logits):
        t = temperature(STEPS, STEPS.max_steps - step, CPU)
        assert t is not None
        entropy = torch.distributions.Categorical(logits=logits / t).entropy()
        assert bool(accept_mask(entropy, STEPS.entropy_bound, None)[held.mask].all())  # they would have been first
        counted = accept_mask(entropy, STEPS.entropy_bound, held.mask)
        assert not bool((counted & held.mask).any())
        assert result.accepted[step] == counted.sum(dim=-1).tolist()
    assert max(n for step in result.accepted for n in step) > 1
    assert torch.equal(result.tokens[held.mask], held.tokens[held.mask])
    assert bool((result.confidences[held.mask] == 1.0).all())
    assert bool((result.confidences[~held.mask] < 1.0).any())


def test_revise_changes_only_the_positions_asked_for(model: Any, decoder_inputs: list[torch.Tensor]) -> None:
    runner = _runner(model)
    first = denoise_canvas(runner, STEPS, _gen(1))
    asked = torch.zeros(1, CANVAS, dtype=torch.bool)
    asked[0, [3, 4, 5, 17]] = True
    decoder_inputs.clear()
    again = revise_canvas(runner, STEPS, _gen(2), first.tokens, asked)
    assert torch.equal(again.tokens[~asked], first.tokens[~asked])
    assert not torch.equal(again.tokens[asked], first.tokens[asked])  # (under these seeds) it did rewrite some
    assert decoder_inputs and all(torch.equal(c[~asked], first.tokens[~asked]) for c in decoder_inputs)
    assert all(n <= 4 for step in again.accepted for n in step)


def test_refinement_rounds_renoise_only_the_tokens_under_tau(model: Any) -> None:
    runner = _runner(model)
    s = BlockSettings(max_steps=12, refine_rounds=1, tau=0.5)
    first = denoise_canvas(runner, s, _gen(3))
    low = first.confidences < s.tau
    assert 0 < int(low.sum()) < CANVAS
    refined = refine_canvas(runner, s, _gen(4), first)
    assert torch.equal(refined.tokens[~low], first.tokens[~low])
    assert torch.equal(refined.confidences[~low], first.confidences[~low])
    assert refined.steps > first.steps and len(refined.accepted) == refined.steps
    nothing: CanvasResult = refine_canvas(runner, BlockSettings(tau=0.0, refine_rounds=3), _gen(4), first)
    assert nothing.steps == first.steps  # no token under tau 0: no round runs


def test_a_stop_check_ends_the_canvas_at_the_next_step_boundary(model: Any, decoder_inputs: list[torch.Tensor]) -> None:
    asked = [0]

    def stop() -> bool:
        asked[0] += 1
        return asked[0] > 3

    with pytest.raises(Stopped):
        generate(_runner(model), torch.tensor([[5, 6, 7]]), STEPS, _gen(), max_new_tokens=64, stop=stop)
    assert len(decoder_inputs) == 3 and asked[0] == 4


def test_an_all_held_canvas_runs_no_pass_and_generate_counts_canvases(
    model: Any, decoder_inputs: list[torch.Tensor]
) -> None:
    full = Held(torch.ones(1, CANVAS, dtype=torch.bool), torch.arange(CANVAS, device=CPU)[None] + 3)
    assert denoise_canvas(_runner(model), STEPS, _gen(), held=full).steps == 0
    assert decoder_inputs == []
    budget = 2 * CANVAS + 1  # a token into a third canvas
    out = generate(DirectRunner(model, 1, CPU), torch.tensor([[5, 6, 7]]), STEPS, _gen(), max_new_tokens=budget)
    assert len(out.canvases) == math.ceil(budget / CANVAS) and out.ids.shape == (1, 3 * CANVAS)
    assert int(out.passes) == sum(c.steps for c in out.canvases) == len(decoder_inputs)
