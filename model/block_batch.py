"""One decoder pass for the canvases of many block-diffusion fills (continuous batching).

Each fill keeps its own encoder cache (a transformers `DynamicCache`: full layers hold every
prompt key, sliding layers the last `sliding_window - 1`); its decoder step posts a `DecodeItem`
to the step loop's group path (model/serve/steploop.py), and the engine's `GroupDecoder` runs
them as one forward, keeping the merged caches from step to step while the same fills go on.
The caches are merged per layer, left-padded to the longest, with a boolean key mask per layer
type: a row's queries see exactly the keys they see alone (its own cached keys, then every
canvas key of its own row), never the padding. Keys are cached with RoPE already applied, so
padding moves no key's rotation; the decoder's bidirectional mask has no window of its own (a
sliding layer's window is the cache's truncation, which each row keeps), so left or right padding
gives the same set of keys to every query. Canvas positions are passed per row (each continues
after its own prompt). A row without self-conditioning logits yet (its first step) gets zeros
masked off by `self_conditioning_mask`, as the decoder does for None.

A group of one runs the decoder exactly as a fill alone does (no padding, no mask): a single fill
in the worker gets the logits it gets alone, bit for bit. Rows of a merged pass match their solo
logits within float tolerance (tests/model/gemma/test_block_batch.py: under 2e-6 on CPU fp32).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from model.block_decode import DirectRunner
from model.engine import Passes


@dataclass(frozen=True)
class DecodeItem:
    """One fill's decoder step: its canvas rows (b, C), the previous step's (processed) logits as
    self-conditioning (b, C, V) or None on the first step, and the fill's own encoder cache."""

    canvas: torch.Tensor
    self_cond: torch.Tensor | None
    cache: Any  # transformers Cache (DynamicCache) holding this fill's encoded prompt
    alone: Callable[[], torch.Tensor] | None = None  # the same pass as the fill runs it by itself


class _Layer:
    """A merged cache layer: what the decoder's attention reads (`keys`, `values`)."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        self.keys = keys
        self.values = values


class MergedCache:
    """The read-only cache the decoder sees for a merged pass: per layer, the rows' keys and
    values left-padded to one length (the decoder only concatenates the canvas's keys to them)."""

    is_compileable = False

    def __init__(self, layers: list[_Layer], is_sliding: list[bool]) -> None:
        self.layers = layers
        self.is_sliding = is_sliding

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return int(self.layers[layer_idx].keys.shape[-2])


def cache_length(cache: Any) -> int:
    """Prompt tokens encoded into `cache` so far (the next canvas's first position)."""
    return int(cache.get_seq_length())


def canvas_positions(items: Sequence[DecodeItem], width: int, device: torch.device) -> torch.Tensor:
    """(B, width) positions: each row's canvas continues after its own prompt."""
    starts = torch.tensor(
        [cache_length(it.cache) for it in items for _ in range(it.canvas.shape[0])], dtype=torch.long, device=device
    )
    return starts[:, None] + torch.arange(width, dtype=torch.long, device=device)[None, :]


def _merge_layer(items: Sequence[DecodeItem], idx: int) -> tuple[_Layer, torch.Tensor]:
    """Layer idx's keys/values of every row, left-padded, and (B, K) which of them are real."""
    parts = [(it.cache.layers[idx].keys, it.cache.layers[idx].values) for it in items]
    longest = max(k.shape[-2] for k, _ in parts)
    k0, v0 = parts[0]
    rows = sum(it.canvas.shape[0] for it in items)
    keys = k0.new_zeros((rows, k0.shape[1], longest, k0.shape[3]))
    values = v0.new_zeros((rows, v0.shape[1], longest, v0.shape[3]))
    real = torch.zeros((rows, longest), dtype=torch.bool, device=k0.device)
    r = 0
    for (k, v), it in zip(parts, items, strict=True):
        b, n = it.canvas.shape[0], k.shape[-2]
        keys[r : r + b, :, longest - n :] = k  # one cache row serves every canvas row of its fill
        values[r : r + b, :, longest - n :] = v
        real[r : r + b, longest - n :] = True
        r += b
    return _Layer(keys, values), real


def merge_caches(
    items: Sequence[DecodeItem], widths: list[int], width: int
) -> tuple[MergedCache, dict[str, torch.Tensor]]:
    """The merged cache and the decoder's mask per layer type, (B, 1, width, K + width) booleans:
    a row's own real cached keys and its own `widths[row]` canvas keys, nothing else."""
    first = items[0].cache
    layers: list[_Layer] = []
    masks: dict[str, torch.Tensor] = {}
    lengths: dict[str, list[int]] = {}
    types = ["sliding_attention" if s else "full_attention" for s in first.is_sliding]
    for idx, kind in enumerate(types):
        layer, real = _merge_layer(items, idx)
        layers.append(layer)
        held = [int(it.cache.layers[idx].keys.shape[-2]) for it in items]
        if lengths.setdefault(kind, held) != held:  # one mask per layer type, as the decoder takes it
            raise ValueError(f"layers of type {kind} hold different cache lengths; cannot share one mask")
        if kind not in masks:
            canvas_real = (
                torch.arange(width, device=real.device)[None, :] < torch.tensor(widths, device=real.device)[:, None]
            )
            masks[kind] = torch.cat([real, canvas_real], dim=1)[:, None, None, :].expand(-1, 1, width, -1)
    return MergedCache(layers, list(first.is_sliding)), masks


def _self_conditioning(
    items: Sequence[DecodeItem], width: int, vocab: int, like: torch.Tensor
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(B, width, V) logits and the (B,) mask of rows that have them; (None, None) when none do."""
    if all(it.self_cond is None for it in items):
        return None, None
    parts, has = [], []
    for it in items:
        b, c = it.canvas.shape
        sc = it.self_cond
        if sc is None:
            sc = like.new_zeros((b, c, vocab))
        if c < width:
            sc = torch.nn.functional.pad(sc, (0, 0, 0, width - c))
        parts.append(sc.to(like.dtype))
        has.extend([it.self_cond is not None] * b)
    return torch.cat(parts), torch.tensor(has, dtype=torch.bool, device=like.device)


def decode_alone(model: Any, item: DecodeItem) -> torch.Tensor:
    """The decoder's logits (b, C, V) for one fill, as the reference calls it (its own cache, no mask)."""
    if item.alone is not None:
        return item.alone()
    c = item.canvas.shape[1]
    pos = canvas_positions([item], c, item.canvas.device)
    out = model(
        cache=item.cache,
        decoder_input_ids=item.canvas,
        self_conditioning_logits=item.self_cond,
        decoder_position_ids=pos[:1] if item.canvas.shape[0] == 1 else pos,
    )
    return out.logits


def decode_group(
    model: Any, items: Sequence[DecodeItem], pad_id: int = 0, merged: GroupDecoder | None = None
) -> list[torch.Tensor]:
    """Each item's decoder logits (b, C, V), from one forward over all their rows (`merged`: where
    the last merge is kept, so that steps of the same fills over unchanged caches merge once)."""
    if len(items) == 1:
        return [decode_alone(model, items[0])]
    widths = [it.canvas.shape[1] for it in items for _ in range(it.canvas.shape[0])]
    width = max(widths)
    canvas = torch.cat(
        [torch.nn.functional.pad(it.canvas, (0, width - it.canvas.shape[1]), value=pad_id) for it in items]
    )
    cache, masks = merged.merge(items, widths, width) if merged is not None else merge_caches(items, widths, width)
    like = model.get_input_embeddings().weight
    sc, sc_mask = _self_conditioning(items, width, like.shape[0], like)
    out = model(
        cache=cache,
        decoder_input_ids=canvas,
        self_conditioning_logits=sc,
        self_conditioning_mask=sc_mask,
        decoder_attention_mask=masks,
        decoder_position_ids=canvas_positions(items, width, canvas.device),
    ).logits
    results, r = [], 0
    for it in items:
        b, c = it.canvas.shape
        results.append(out[r : r + b, :c])
        r += b
    return results


class GroupDecoder:
    """An engine's group function for the step loop (one object: every fill posts to it). The
    caches do not change while a canvas is denoised, so the merge of the last step is kept and
    reused while the same caches, at the same lengths, come again (a fill joining or leaving,
    or a cache growing by a canvas, merges anew). It holds the caches it merged, so none of them
    can be freed and another take its id meanwhile."""

    def __init__(self, model: Any, pad_id: int = 0) -> None:
        self.model = model
        self.pad_id = pad_id
        self.merges = 0  # how many merges ran (the rest of the batched steps reused one)
        self._key: list[tuple[Any, int, int, int]] = []
        self._merged: tuple[MergedCache, dict[str, torch.Tensor]] | None = None

    def __call__(self, items: list[DecodeItem]) -> list[torch.Tensor]:
        # Fills post in whatever order their threads reach the loop: rows in one order (by cache)
        # keep the merge reusable from step to step.
        order = sorted(range(len(items)), key=lambda i: id(items[i].cache))
        out = decode_group(self.model, [items[i] for i in order], self.pad_id, self)
        results: list[torch.Tensor] = [out[0]] * len(items)
        for at, i in enumerate(order):
            results[i] = out[at]
        return results

    def merge(
        self, items: Sequence[DecodeItem], widths: list[int], width: int
    ) -> tuple[MergedCache, dict[str, torch.Tensor]]:
        key = [(it.cache, cache_length(it.cache), it.canvas.shape[0], it.canvas.shape[1]) for it in items]
        same = len(key) == len(self._key) and all(
            a[0] is b[0] and a[1:] == b[1:] for a, b in zip(key, self._key, strict=True)
        )
        if self._merged is None or not same:
            self._merged = merge_caches(items, widths, width)
            self._key = key
            self.merges += 1
        return self._merged


class BatchedRunner(DirectRunner):
    """A fill's `BlockRunner` (model/block_sampler.py) in the worker's batch: its encoder passes
    carry its own cache and run alone between steps (`passes.solo`); its decoder passes go to the
    step loop's group path, where `group` (one per engine: its `GroupDecoder`) runs every fill's
    canvas in one forward. A group of one is this runner's own direct pass."""

    def __init__(
        self,
        model: Any,
        batch: int,
        device: torch.device,
        passes: Passes,
        group: Callable[[list[DecodeItem]], list[torch.Tensor]],
    ) -> None:
        super().__init__(model, batch, device)
        self._passes = passes
        self._group = group

    def encode(self, ids: torch.Tensor) -> None:
        self._passes.solo(lambda: DirectRunner.encode(self, ids))

    def decode(self, canvas: torch.Tensor, self_cond: torch.Tensor | None) -> torch.Tensor:
        item = DecodeItem(canvas, self_cond, self.cache, alone=lambda: DirectRunner.decode(self, canvas, self_cond))
        return self._passes.group(self._group, item, rows=canvas.shape[0])
