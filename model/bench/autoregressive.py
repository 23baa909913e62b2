"""Greedy autoregressive decoding with a KV cache: the baseline the benchmark measures diffusion
against. Same weights, causal mask, one token per forward pass; it sees only the prefix."""

from __future__ import annotations

import torch

from model.transformer import DiffusionLM


@torch.no_grad()
def greedy_decode(
    model: DiffusionLM, prefix: torch.Tensor, max_new: int, stop: set[int] | None = None
) -> tuple[list[int], int]:
    """Up to max_new tokens after prefix (1, T); returns (tokens, forward passes)."""
    cache = model.new_cache()
    logits = model(prefix, causal=True, cache=cache)
    out: list[int] = []
    position = prefix.shape[1]
    for _ in range(max_new):
        token = int(logits[0, -1].argmax())
        out.append(token)
        if stop and token in stop:
            break
        step = torch.tensor([[token]], device=prefix.device)
        logits = model(step, causal=True, cache=cache, positions=torch.tensor([position], device=prefix.device))
        position += 1
    return out, len(out)


@torch.no_grad()
def greedy_decode_uncached(model: DiffusionLM, prefix: torch.Tensor, max_new: int) -> list[int]:
    """The same decode recomputing the whole causal pass each step (the cache's reference)."""
    ids = prefix
    out: list[int] = []
    for _ in range(max_new):
        token = int(model(ids, causal=True)[0, -1].argmax())
        out.append(token)
        ids = torch.cat([ids, torch.tensor([[token]], device=ids.device)], dim=1)
    return out
