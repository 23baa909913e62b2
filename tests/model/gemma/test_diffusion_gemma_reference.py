"""Our block-diffusion loop (model/block_decode.py `generate`, the function a fill calls) against
transformers' reference `DiffusionGemmaForBlockDiffusion.generate()`: batch 1 (and one batch of
2), float32 on the CPU, dynamic cache, no compile, the same seed and settings -> the same tokens.

The reference draws from torch's global RNG; ours from a generator seeded alike, so the first
is seeded with torch.manual_seed and the second with torch.Generator().manual_seed. The model is
a tiny random DiffusionGemma (tests/model/gemma/folders.py: 4 experts top-2, a sliding and a full
layer, sliding window 16 so the second canvas's prompt overflows it, a 32-token canvas), with a
512-token vocabulary so that 16 steps over 2-3 canvases take about a second. At transformers'
default init every step accepts one token and nothing stops early, so three cases change the
model (the same change for both loops): sharper logits, a pull towards a fixed text (the early
stop fires), and an end-of-text forced into the second canvas.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import torch

from model.block_decode import DirectRunner, GenerateResult, generate
from model.block_sampler import BlockSettings
from model.sampler import seeded_generator
from model.wire.sampling import base
from tests.model.gemma.folders import tiny_model
from tests.model.gemma.published import GENERATION_CONFIG

VOCAB = 512
CANVAS = 32
PROMPT = 10
EOS = (1, 106, 50)  # the published generation_config's end-of-text, end-of-turn and tool-response ids
PAD = 0
CPU = torch.device("cpu")


@dataclass
class Both:
    ref: torch.Tensor  # the reference's new tokens (B, k*C)
    ref_passes: torch.Tensor  # decoder passes per row, from its tokens_per_forward
    ours: GenerateResult


def _model() -> Any:
    return tiny_model(seed=0, canvas=CANVAS, text={"vocab_size": VOCAB})


def _prompt(rows: int = 1) -> torch.Tensor:
    return torch.randint(3, VOCAB, (rows, PROMPT), generator=torch.Generator().manual_seed(1))


def _run(model: Any, prompt: torch.Tensor, seed: int, budget: int, **settings: Any) -> Both:
    """Both loops from the published generation_config with `settings` (its key names) over it."""
    from transformers.models.diffusion_gemma.generation_diffusion_gemma import DiffusionGemmaGenerationConfig

    config = {**copy.deepcopy(GENERATION_CONFIG), **settings}
    torch.manual_seed(seed)
    out = model.generate(
        prompt, generation_config=DiffusionGemmaGenerationConfig(**copy.deepcopy(config)), max_new_tokens=budget
    )
    ref = out.sequences[:, prompt.shape[1] :]
    ref_passes = torch.round((ref != PAD).sum(dim=-1) / out.tokens_per_forward).long()
    ours = generate(
        DirectRunner(model, prompt.shape[0], CPU),
        prompt,
        BlockSettings.from_config(config),
        seeded_generator(base(seed=seed), CPU),
        max_new_tokens=budget,
        eos_ids=config["eos_token_id"],
        pad_id=config["pad_token_id"],
    )
    return Both(ref, ref_passes, ours)


def _accepted(result: GenerateResult) -> list[int]:
    return [n for canvas in result.canvases for step in canvas.accepted for n in step]


@contextmanager
def _logit_bias(model: Any, bias: Callable[[int], torch.Tensor | None]) -> Iterator[None]:
    """Adds bias(canvas index) (C, V) to the output head's logits, for both loops alike: the canvas
    is counted by encoder calls (the prompt's starts a run at 0, each canvas's adds one)."""
    canvas = [0]

    def count(_module: Any, _args: Any, kwargs: dict[str, Any]) -> None:
        canvas[0] = 0 if kwargs["input_ids"].shape[1] == PROMPT else canvas[0] + 1

    def add(_module: Any, _args: Any, logits: torch.Tensor) -> torch.Tensor:
        extra = bias(canvas[0])
        return logits if extra is None else logits + extra

    hooks = [
        model.model.encoder.register_forward_pre_hook(count, with_kwargs=True),
        model.lm_head.register_forward_hook(add),
    ]
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()


def _assert_same(both: Both) -> None:
    assert both.ours.ids.shape == both.ref.shape
    assert torch.equal(both.ours.ids, both.ref), f"ours {both.ours.ids.tolist()}\nref  {both.ref.tolist()}"
    assert torch.equal(both.ours.passes, both.ref_passes)


def test_diffusion_gemma_matches_reference_at_default_init() -> None:
    both = _run(_model(), _prompt(), seed=5, budget=2 * CANVAS, max_denoising_steps=16)
    _assert_same(both)
    assert len(both.ours.canvases) == 2
    assert [c.steps for c in both.ours.canvases] == [16, 16]
    assert set(_accepted(both.ours)) == {1}  # the default init: one token a step, no early stop


def test_diffusion_gemma_matches_reference_accepting_several_tokens_a_step() -> None:
    model = _model()
    with torch.no_grad():
        model.model.decoder.norm.weight.mul_(60.0)  # sharper logits: lower entropies
    both = _run(model, _prompt(), seed=7, budget=2 * CANVAS, max_denoising_steps=16)
    _assert_same(both)
    accepted = _accepted(both.ours)
    assert max(accepted) >= 4 and sum(accepted) / len(accepted) >= 2.0, accepted


def _pull_to_text(*strengths: float) -> Callable[[int], torch.Tensor]:
    """A fixed token per canvas position gets more logit, row r `strengths[r]` more: a text the
    model is sure of, surer in some rows than in others (so that rows stop at different steps)."""
    text = torch.randint(3, VOCAB, (CANVAS,), generator=torch.Generator().manual_seed(3))
    bias = torch.zeros(CANVAS, VOCAB).scatter(-1, text[:, None], 1.0) * torch.tensor(strengths)[:, None, None]
    return lambda _canvas: bias


@pytest.mark.parametrize("strengths", [(6.0,), (6.0, 7.0)])
def test_diffusion_gemma_matches_reference_when_the_early_stop_fires(strengths: tuple[float, ...]) -> None:
    model = _model()
    rows = len(strengths)
    with _logit_bias(model, _pull_to_text(*strengths)):
        default = _run(model, _prompt(rows), seed=11, budget=2 * CANVAS, max_denoising_steps=16)
        raised = _run(
            model, _prompt(rows), seed=11, budget=2 * CANVAS, max_denoising_steps=16, confidence_threshold=1.0
        )
    _assert_same(default)
    _assert_same(raised)
    assert not bool(default.ours.canvases[0].stopped_early[0])  # row 0 never reaches 0.005
    assert all(bool(c.stopped_early.all()) and c.steps < 16 for c in raised.ours.canvases)
    assert bool((raised.ours.passes < default.ours.passes).all())
    assert all(len(set(c.passes.tolist())) == rows for c in raised.ours.canvases)  # each row stops on its own step


def test_diffusion_gemma_matches_reference_with_an_end_of_text() -> None:
    model = _model()
    at = 20  # end-of-turn forced at position 20 of the second canvas

    def bias(canvas: int) -> torch.Tensor | None:
        return torch.zeros(CANVAS, VOCAB).index_put_((torch.tensor([at]), torch.tensor([106])), torch.tensor(40.0))

    with _logit_bias(model, lambda canvas: bias(canvas) if canvas == 1 else None):
        both = _run(model, _prompt(), seed=13, budget=3 * CANVAS, max_denoising_steps=16)
    _assert_same(both)
    ids = both.ours.ids[0]
    assert len(both.ours.canvases) == 2  # stopped before the budget's third canvas
    assert not torch.isin(ids[:CANVAS], torch.tensor(EOS)).any()
    assert int(ids[CANVAS + at]) == 106
    assert ids[CANVAS + at + 1 :].tolist() == [PAD] * (CANVAS - at - 1)
    assert (both.ours.confidences[0, CANVAS + at + 1 :] == 0).all()
