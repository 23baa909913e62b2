"""Masked-diffusion infilling with re-masking refinement.

1. Unmask: run the bidirectional model over the whole sequence; at each step commit the masked
   positions it is surest of: an even share of what remains over the steps left (LLaDA's
   low-confidence remasking), or every position above a confidence threshold, at least one
   (Fast-dLLM's parallel decoding). "Surest" is top-1 probability, top-1 minus top-2 margin,
   negative entropy, or a seeded random order. Long gaps may decode in blocks, left to right.
2. Refine: re-mask the committed gap tokens whose confidence is under tau (at most half the gap
   per round) and denoise them again, now that both their neighbours are written. LLaDA and Dream
   never revisit a committed token; this is what we add. `revise` re-masks positions the caller
   names (the server sends the tokens under a syntax error).

Rows of a batch are independent sequences; `gap` may hold several spans per row, filled jointly.
`key_padding` marks real (non-padding) tokens. The model is a `Denoiser`: the transformer itself,
or the masked engine's view of it whose passes run in a shared batch (model/masked_engine.py).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Protocol

import torch

from model.engine import StopCheck, Stopped
from model.tokenizer import SpecialIds
from model.transformer import LayerCache, ModelConfig
from model.wire.protocol import SamplerSettings

# (row, column, a boolean mask over the vocabulary): only the tokens it marks may fill that position
Allowed = list[tuple[int, int, torch.Tensor]]
NULL_PENALTY = 1e3  # larger than any spread of commit scores


class Denoiser(Protocol):
    """The passes the sampler runs (model/transformer.py's DiffusionLM has them all)."""

    config: ModelConfig

    def token_logits(
        self,
        ids: torch.Tensor,
        key_padding: torch.Tensor | None = None,
        cache: list[LayerCache] | None = None,
        cols: torch.Tensor | None = None,
    ) -> torch.Tensor: ...

    def __call__(
        self,
        ids: torch.Tensor,
        key_padding: torch.Tensor | None = None,
        *,
        cache: list[LayerCache] | None = None,
        positions: torch.Tensor | None = None,
        heads: torch.Tensor | None = None,
    ) -> torch.Tensor: ...

    def new_cache(self) -> list[LayerCache]: ...


@dataclass
class Sample:
    ids: torch.Tensor  # (B, T) with every gap position committed
    confidence: torch.Tensor  # (B, T) probability of each committed gap token when last chosen
    forward_passes: int
    refined: int  # positions re-masked over all refinement rounds


def _top_p(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    if top_p >= 1.0:
        return probs
    sorted_p, idx = probs.sort(dim=-1, descending=True)
    drop = sorted_p.cumsum(-1) - sorted_p > top_p
    sorted_p = sorted_p.masked_fill(drop, 0.0)
    return torch.zeros_like(probs).scatter(-1, idx, sorted_p) / sorted_p.sum(-1, keepdim=True)


@functools.lru_cache(maxsize=16)
def _index(ids: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """The ids as an index tensor on `device`, made once rather than copied up at every step."""
    return torch.tensor(ids, dtype=torch.long, device=device)


def choose(
    logits: torch.Tensor,
    s: SamplerSettings,
    gen: torch.Generator | None,
    specials: SpecialIds,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(token, its probability, commit score) at every position; the `never` ids (the mask among
    them) are never chosen.

    A position whose choice is the filler token scores below every other, so a gap's content is
    committed before its padding: otherwise confident fillers fill a gap first and leave it empty."""
    logits = logits.float()
    logits[..., _index(specials.never, logits.device)] = float("-inf")
    probs = torch.softmax(logits, dim=-1)
    if s.temperature > 0:
        sampling = _top_p(torch.softmax(logits / s.temperature, dim=-1), s.top_p)
        tokens = torch.multinomial(sampling.flatten(0, 1), 1, generator=gen).view(probs.shape[:-1])
    else:
        tokens = probs.argmax(-1)
    conf = probs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    if s.order == "margin":
        top2 = probs.topk(2, dim=-1).values
        score = top2[..., 0] - top2[..., 1]
    elif s.order == "entropy":
        score = (probs * probs.clamp_min(1e-12).log()).sum(-1)  # negative entropy: higher is surer
    elif s.order == "random":
        score = torch.rand(conf.shape, generator=gen, device=conf.device)
    else:
        score = conf
    if specials.filler is not None:
        score = torch.where(tokens == specials.filler, score - NULL_PENALTY, score)
    return tokens, conf, score


def _rank(score: torch.Tensor, eligible: torch.Tensor) -> torch.Tensor:
    """Rank (0 = best) of each eligible position within its row by descending score."""
    score = torch.where(eligible, score, torch.full_like(score, float("-inf")))
    return score.argsort(dim=-1, descending=True).argsort(dim=-1)


def _to_commit(
    masked: torch.Tensor, conf: torch.Tensor, score: torch.Tensor, steps_left: int, threshold: float
) -> torch.Tensor:
    rank = _rank(score, masked)
    if threshold > 0:
        return masked & ((conf >= threshold) | (rank == 0))
    k = torch.div(masked.sum(-1) + steps_left - 1, steps_left, rounding_mode="floor")
    return masked & (rank < k.unsqueeze(-1))


class _Scorer:
    """(token, probability, commit score) at every position still masked, from a full forward pass
    each step or, with the dual cache, from a pass over only the columns being decoded: the first
    pass fills every layer's keys and values, later ones overwrite just those columns and attend to
    the rest as cached. Context keys go slightly stale as the gap fills in; that is the
    approximation. Only the columns still masked in some row reach the output layer (a committed
    token's logits would go unused): at 8,192 entries it costs about as much as the layers do."""

    def __init__(
        self,
        model: Denoiser,
        ids: torch.Tensor,
        masked: torch.Tensor,
        key_padding: torch.Tensor | None,
        s: SamplerSettings,
        specials: SpecialIds,
        gen: torch.Generator | None,
        allowed: Allowed | None = None,
    ) -> None:
        self.model, self.ids, self.key_padding, self.s, self.specials, self.gen = (
            model,
            ids,
            key_padding,
            s,
            specials,
            gen,
        )
        self.cache = model.new_cache() if s.dual_cache else None
        cols = masked.any(0).nonzero().flatten()
        src = (cols - 1).clamp(min=0) if model.config.shift_logits else cols
        self.need = torch.unique(torch.cat([cols, src]))  # sorted: the columns each cached pass runs
        self.cols, self.src_at = cols, torch.searchsorted(self.need, src)
        at = {c: i for i, c in enumerate(cols.tolist())} if allowed else {}
        self.allowed = [(row, at[col], mask) for row, col, mask in allowed or () if col in at]

    def __call__(self, masked: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Scores at the columns `masked` (B, T) holds in some row; every other position is zero."""
        live = masked[:, self.cols].any(0)  # which of the gap's columns still need a choice
        cols = self.cols[live]
        if self.cache is None:
            logits = self.model.token_logits(self.ids, self.key_padding, cols=cols)
        elif self.cache[0].k is None:  # the first pass runs everything and fills the cache
            logits = self.model.token_logits(self.ids, self.key_padding, cache=self.cache, cols=cols)
            for layer in self.cache:
                layer.positions = self.need
        else:
            logits = self.model(
                self.ids[:, self.need], self.key_padding, cache=self.cache, positions=self.need, heads=self.src_at[live]
            )
        part = self._choose(logits, live)
        full = [torch.zeros(self.ids.shape, dtype=t.dtype, device=t.device) for t in part]
        for whole, piece in zip(full, part, strict=True):
            whole[:, cols] = piece
        return full[0], full[1], full[2]

    def _choose(self, logits: torch.Tensor, live: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`choose` over logits (B, live columns, V), the allowed tokens alone left where some are named."""
        if self.allowed:
            at = (live.long().cumsum(0) - 1).tolist()  # each gap column's index among the live ones
            kept = live.tolist()
            for row, i, mask in self.allowed:
                if kept[i]:
                    logits[row, at[i]] = logits[row, at[i]].masked_fill(~mask.to(logits.device), float("-inf"))
        return choose(logits, self.s, self.gen, self.specials)


@torch.no_grad()
def denoise(
    model: Denoiser,
    ids: torch.Tensor,
    masked: torch.Tensor,
    confidence: torch.Tensor,
    key_padding: torch.Tensor | None,
    steps: int,
    s: SamplerSettings,
    specials: SpecialIds,
    gen: torch.Generator | None,
    stop: StopCheck | None = None,
    allowed: Allowed | None = None,
    scorer: _Scorer | None = None,
) -> int:
    """Unmask every `masked` position of ids in place; returns the forward passes it took.

    With a threshold, `steps` is no limit: decoding goes on until nothing is masked. `stop` is
    asked before every step; when it answers yes, decoding ends with `Stopped`. `scorer`: one
    that scores these ids already (its cache filled by an earlier call), else a new one.
    """
    masked = masked.clone()
    passes = 0
    scorer = scorer or _Scorer(model, ids, masked, key_padding, s, specials, gen, allowed)
    while masked.any():
        if stop is not None and stop():
            raise Stopped
        tokens, conf, score = scorer(masked)
        passes += 1
        commit = _to_commit(masked, conf, score, max(1, steps - passes + 1), s.threshold)
        ids[commit] = tokens[commit]
        confidence[commit] = conf[commit]
        masked &= ~commit
    return passes


def blocks(gap: torch.Tensor, size: int) -> list[torch.Tensor]:
    """The gap split into left-to-right blocks of `size` gap positions per row (all of it if size is 0)."""
    if size <= 0:
        return [gap]
    order = gap.long().cumsum(-1) - 1  # index of each gap position among its row's gap positions
    n = int(gap.sum(-1).max())
    return [gap & (order >= b) & (order < b + size) for b in range(0, n, size)]


def refine_targets(confidence: torch.Tensor, gap: torch.Tensor, tau: float) -> torch.Tensor:
    """Gap positions under tau, at most half of each row's gap (the least confident first)."""
    low = gap & (confidence < tau)
    cap = torch.div(gap.sum(-1), 2, rounding_mode="floor").clamp(min=1)
    return low & (_rank(-confidence, low) < cap.unsqueeze(-1))


@torch.no_grad()
def revise(
    model: Denoiser,
    ids: torch.Tensor,
    positions: torch.Tensor,
    confidence: torch.Tensor,
    s: SamplerSettings,
    specials: SpecialIds,
    key_padding: torch.Tensor | None = None,
    gen: torch.Generator | None = None,
    stop: StopCheck | None = None,
    allowed: Allowed | None = None,
    scorer: _Scorer | None = None,
) -> int:
    """Re-mask `positions` of committed ids and denoise them again in place; returns forward passes."""
    ids[positions] = specials.mask
    steps = max(1, s.steps // 2)
    return denoise(model, ids, positions, confidence, key_padding, steps, s, specials, gen, stop, allowed, scorer)


@torch.no_grad()
def score_draft(
    model: Denoiser,
    ids: torch.Tensor,
    positions: torch.Tensor,
    specials: SpecialIds,
    key_padding: torch.Tensor | None = None,
    passes: int = 4,
) -> torch.Tensor:
    """How likely the model finds each token at `positions` given everything else: every
    `passes`-th position is masked in turn (a strided pseudo-likelihood), so a token is never
    scored while visible to itself. Returns probabilities, zero outside `positions`."""
    probs = torch.zeros(ids.shape, dtype=torch.float32, device=ids.device)
    index = torch.arange(ids.shape[1], device=ids.device).expand_as(ids)
    for k in range(passes):
        chosen = positions & (index % passes == k)
        if not chosen.any():
            continue
        masked = ids.masked_fill(chosen, specials.mask)
        logp = torch.log_softmax(model.token_logits(masked, key_padding).float(), dim=-1)
        p = logp.gather(-1, ids.unsqueeze(-1)).squeeze(-1).exp()
        probs = torch.where(chosen, p, probs)
    return probs


OPTIONS = ("cache_refresh",)  # the sampler options (SamplerSettings.options) this sampler takes


def cache_refresh(s: SamplerSettings) -> bool:
    """Whether each refinement round of a cached fill starts with a full pass (the default)."""
    value = s.options.get("cache_refresh", True)
    if not isinstance(value, bool):
        raise ValueError(f"sampler option cache_refresh must be true or false, not {value!r}")
    return value


def seeded_generator(s: SamplerSettings, device: torch.device) -> torch.Generator:
    """The fill's random source, on the device its tensors live on: `multinomial` and `rand` refuse
    a generator of another device. Seeded alike, a CPU generator draws what torch.Generator() drew."""
    return torch.Generator(device=device).manual_seed(s.seed)


@torch.no_grad()
def infill(
    model: Denoiser,
    ids: torch.Tensor,
    gap: torch.Tensor,
    s: SamplerSettings,
    specials: SpecialIds,
    key_padding: torch.Tensor | None = None,
    stop: StopCheck | None = None,
    allowed: Allowed | None = None,
) -> Sample:
    """Fill every `gap` position of ids (B, T); positions outside the gap are never changed.
    `stop` is asked before every step (a cancelled request stops at the next step boundary).
    `allowed` holds positions only some tokens may fill (a healed gap's first, model/boundary.py)."""
    gen = seeded_generator(s, ids.device)
    ids = ids.clone()
    ids[gap] = specials.mask
    confidence = torch.zeros(ids.shape, dtype=torch.float32, device=ids.device)
    parts = blocks(gap, s.block)
    per_block = max(1, s.steps // len(parts))
    # With the dual cache and no `cache_refresh`, one scorer serves the unmasking and every
    # refinement round: a fill costs one full pass. Else each round starts with a full pass of its
    # own, so the context's keys see the gap as now written (as Fast-dLLM refreshes per block).
    shared = None
    if s.dual_cache and len(parts) == 1 and not cache_refresh(s):
        shared = _Scorer(model, ids, gap, key_padding, s, specials, gen, allowed)
    passes = sum(
        denoise(model, ids, part, confidence, key_padding, per_block, s, specials, gen, stop, allowed, shared)
        for part in parts
    )
    refined = 0
    for _ in range(s.refine_rounds):
        targets = refine_targets(confidence, gap, s.tau)
        if not targets.any():
            break
        refined += int(targets.sum())
        passes += revise(model, ids, targets, confidence, s, specials, key_padding, gen, stop, allowed, shared)
    return Sample(ids=ids, confidence=confidence, forward_passes=passes, refined=refined)
