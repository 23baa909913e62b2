"""Block diffusion over many canvases: what a DiffusionGemma fill runs.

`generate` encodes the prompt into the runner's cache, denoises a canvas (model/block_sampler.py),
appends its text, encodes that canvas and goes on to the next, until every row has written an
end-of-text (or end-of-turn) token, whose canvas gets pad after it, or the token budget is spent.
Whole canvases come out, as from transformers' reference `generate()`, which this matches token
for token under one seed (tests/model/gemma/test_diffusion_gemma_reference.py).

`DirectRunner` runs one fill's passes on the model itself, with a transformers DynamicCache (the
static-cache and compiled paths give other tokens and compile for minutes). The block engine's
batched runner shares decoder passes across fills instead (model/block_batch.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from model.block_sampler import (
    BlockRunner,
    BlockSettings,
    CanvasResult,
    Held,
    StopCheck,
    denoise_canvas,
    refine_canvas,
)


class DirectRunner:
    """A `BlockRunner` over a `DiffusionGemmaForBlockDiffusion` for one fill of `batch` rows, with
    its own DynamicCache. Encoder and decoder get the position ids and mask mappings the reference
    builds (int32 positions; masks from the model's own mask functions)."""

    def __init__(self, model: Any, batch: int, device: torch.device) -> None:
        from transformers import DynamicCache  # only a DiffusionGemma fill needs transformers

        self.model = model
        self.batch = batch
        self.device = device
        self.canvas = int(model.config.canvas_length)
        self.vocab = int(model.config.text_config.vocab_size)
        self.cache = DynamicCache(config=model.config.get_text_config(decoder=True))
        self.length = 0  # tokens in the cache
        self.embed_dtype = model.model.decoder.embed_tokens.weight.dtype

    def _positions(self, n: int) -> torch.Tensor:
        return torch.arange(self.length, self.length + n, dtype=torch.int32, device=self.device)[None]

    @torch.no_grad()
    def encode(self, ids: torch.Tensor) -> None:
        encoder = self.model.model.encoder
        n = ids.shape[1]
        positions = self._positions(n)
        seen = torch.ones((self.batch, self.length + n), dtype=torch.bool, device=self.device)
        shape_only = torch.empty((self.batch, n, 0), dtype=self.model.dtype, device=self.device)
        masks = encoder.create_masks_for_generate(
            config=self.model.config,
            inputs_embeds=shape_only,
            attention_mask=seen,
            cache=self.cache,
            position_ids=positions,
        )
        encoder(input_ids=ids.contiguous(), attention_mask=masks, cache=self.cache, position_ids=positions)
        self.length += n

    @torch.no_grad()
    def decode(self, canvas: torch.Tensor, self_cond: torch.Tensor | None) -> torch.Tensor:
        width = canvas.shape[1]
        seen = torch.ones((self.batch, self.length + width), dtype=torch.bool, device=self.device)
        masks = self.model.model.decoder.create_diffusion_decoder_attention_mask(
            config=self.model.config, inputs_embeds=canvas[..., None], cache=self.cache, decoder_attention_mask=seen
        )
        out = self.model(
            decoder_input_ids=canvas,
            self_conditioning_logits=None if self_cond is None else self_cond.to(self.embed_dtype),
            decoder_attention_mask=masks,
            cache=self.cache,
            decoder_position_ids=self._positions(width),
        )
        return out.logits


@dataclass
class GenerateResult:
    """What `generate` wrote: `ids` (B, k*C), whole canvases, pad after a row's end-of-text and in
    every canvas after it; `confidences` (B, k*C) per token (0.0 where padded); `canvases` one
    CanvasResult per canvas; `passes` (B,) decoder passes per row (canvases after a row's end not
    counted)."""

    ids: torch.Tensor
    confidences: torch.Tensor
    canvases: list[CanvasResult]
    passes: torch.Tensor


def _finish(
    tokens: torch.Tensor, done: torch.Tensor, eos: torch.Tensor | None, pad_id: int | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A canvas's text with pad where it is over: everywhere for rows done before it, after the
    first end-of-text for rows that write one here. Returns (tokens, padded mask, done after)."""
    ended = done.clone()
    padded = torch.zeros_like(tokens, dtype=torch.bool)
    if eos is not None:
        is_eos = torch.isin(tokens, eos)
        ended = done | is_eos.any(dim=-1)
        if pad_id is not None:
            seen = is_eos.cumsum(dim=-1)
            padded = (seen > 0) & ~((seen == 1) & is_eos)  # after the first end-of-text
    if pad_id is not None:
        padded = padded | done[:, None]
        tokens = tokens.masked_fill(padded, pad_id)
    return tokens, padded, ended


@torch.no_grad()
def generate(
    runner: BlockRunner,
    prompt_ids: torch.Tensor,
    settings: BlockSettings,
    gen: torch.Generator,
    *,
    max_new_tokens: int | None = None,
    eos_ids: Sequence[int] = (),
    pad_id: int | None = None,
    stop: StopCheck | None = None,
    held_for: Callable[[int], Held | None] | None = None,
) -> GenerateResult:
    """Write canvases after `prompt_ids` (B, n) until every row has ended or ceil(budget / C)
    canvases are written (budget: `max_new_tokens`, else `settings.max_new_tokens`). `held_for(k)`
    gives canvas k's held positions (inpainting holds the suffix); `stop` is asked before every
    decoder pass. Each canvas gets `settings.refine_rounds` refinement rounds before it is kept."""
    budget = settings.max_new_tokens if max_new_tokens is None else max_new_tokens
    dev = runner.device
    eos = torch.tensor(list(eos_ids), dtype=torch.int64, device=dev) if eos_ids else None
    done = torch.zeros(runner.batch, dtype=torch.bool, device=dev)
    passes = torch.zeros(runner.batch, dtype=torch.int64, device=dev)
    runner.encode(prompt_ids)
    texts: list[torch.Tensor] = []
    confidences: list[torch.Tensor] = []
    canvases: list[CanvasResult] = []
    for k in range(math.ceil(budget / runner.canvas)):
        if k:
            runner.encode(texts[-1])
        held = None if held_for is None else held_for(k)
        result = denoise_canvas(runner, settings, gen, held=held, stop=stop)
        result = refine_canvas(runner, settings, gen, result, held=held, stop=stop)
        passes += result.passes * ~done
        tokens, padded, done = _finish(result.tokens, done, eos, pad_id)
        texts.append(tokens)
        confidences.append(result.confidences.masked_fill(padded, 0.0))
        canvases.append(result)
        if bool(done.all()):
            break
    return GenerateResult(
        ids=torch.cat(texts, dim=-1),
        confidences=torch.cat(confidences, dim=-1),
        canvases=canvases,
        passes=passes,
    )
