"""One canvas of block diffusion (DiffusionGemma): denoise C tokens against a cached prompt.

The canvas starts as uniform random tokens. Every step runs the decoder over the whole canvas
(with the previous step's tempered logits as self-conditioning), samples every position at a
temperature that falls linearly from t_max, accepts the lowest-entropy samples whose summed
entropy, less the largest, stays within the entropy bound, and re-noises every other position
(nothing stays locked: the accepted set is chosen afresh each step). It stops once the argmax
canvas has not changed for `stability_threshold` steps and the mean entropy is under
`confidence_threshold`, or after `max_steps`; the argmax of the last step is the canvas's text.
This follows transformers' reference loop (`generation_diffusion_gemma.py`) draw for draw, so
that under one seed both give the same tokens: one canvas draw, then a sample and a re-noise draw
on every step, the last included.

What we add: held positions (inpainting's suffix, `revise`'s untouched tokens) are written into
the decoder's input at every step and never chosen, counted or scored; per-token confidences;
refinement rounds that re-noise the tokens under `tau` and denoise them again; `stop` at every
step boundary. The decoder passes go through a `BlockRunner` (model/block_decode.py runs one
fill alone; the block engine shares them across fills).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Protocol

import torch

from model.engine import Stopped

StopCheck = Callable[[], bool]

# transformers' DiffusionGemmaGenerationConfig defaults (`_get_default_generation_params`, 5.24),
# used for every key a checkpoint's generation_config.json leaves out.
REFERENCE_DEFAULTS: dict[str, Any] = {
    "max_new_tokens": 256,
    "max_denoising_steps": 48,
    "sampler_config": {"entropy_bound": 0.1},
    "t_min": 0.4,
    "t_max": 0.8,
    "stability_threshold": 1,
    "confidence_threshold": 0.005,
}


class BlockRunner(Protocol):
    """The model passes one fill's canvases need. `encode` appends ids (B, n) to the fill's prompt
    cache at the positions after it; `decode` scores a canvas (B, C) placed right after the cache,
    with `self_cond` (B, C, V) the previous step's tempered logits (None on a canvas's first step),
    and returns raw decoder logits (B, C, V) in float32 without changing the cache."""

    batch: int
    canvas: int
    vocab: int
    device: torch.device

    def encode(self, ids: torch.Tensor) -> None: ...

    def decode(self, canvas: torch.Tensor, self_cond: torch.Tensor | None) -> torch.Tensor: ...


@dataclass(frozen=True)
class BlockSettings:
    """Resolved block-diffusion settings. A None threshold turns the early stop off (as in the reference)."""

    entropy_bound: float = 0.1
    t_max: float | None = 0.8
    t_min: float | None = 0.4
    max_steps: int = 48
    stability_threshold: int | None = 1
    confidence_threshold: float | None = 0.005
    max_new_tokens: int = 256
    refine_rounds: int = 0  # rounds after a canvas is done: re-noise tokens under tau, hold the rest
    tau: float = 0.0

    @classmethod
    def from_config(cls, generation_config: Mapping[str, Any] | None = None, **overrides: Any) -> BlockSettings:
        """Settings from a checkpoint's generation_config.json (its key names) over the reference
        defaults, then `overrides` under our names (None in an override leaves the value as is)."""
        merged = {**REFERENCE_DEFAULTS, **(generation_config or {})}
        sampler = merged.get("sampler_config") or REFERENCE_DEFAULTS["sampler_config"]
        values: dict[str, Any] = {
            "entropy_bound": float(sampler.get("entropy_bound", 0.1)),
            "t_max": merged.get("t_max"),
            "t_min": merged.get("t_min"),
            "max_steps": int(merged["max_denoising_steps"]),
            "stability_threshold": merged.get("stability_threshold"),
            "confidence_threshold": merged.get("confidence_threshold"),
            "max_new_tokens": int(merged["max_new_tokens"]),
        }
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown block-diffusion settings {unknown}; known: {sorted(known)}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values).checked()

    def checked(self) -> BlockSettings:
        """These settings, or ValueError naming the first one out of range."""
        if self.entropy_bound <= 0 or self.max_steps < 1 or self.max_new_tokens < 1:
            raise ValueError("entropy_bound must be > 0, max_steps and max_new_tokens >= 1")
        if (self.t_max is None) != (self.t_min is None):
            raise ValueError("t_max and t_min are set together or not at all")
        # t_min == t_max is a flat schedule (the reference refuses it; nothing here needs that)
        if self.t_max is not None and self.t_min is not None and not (0 <= self.t_min <= self.t_max and self.t_max > 0):
            raise ValueError(f"need 0 <= t_min <= t_max, t_max > 0 (got t_min {self.t_min}, t_max {self.t_max})")
        if self.refine_rounds < 0 or not 0.0 <= self.tau <= 1.0:
            raise ValueError("refine_rounds must be >= 0 and tau in [0, 1]")
        return self


@dataclass(frozen=True)
class Held:
    """Canvas positions fixed in advance: `mask` (B, C) bool, `tokens` (B, C) long read where mask is set."""

    mask: torch.Tensor
    tokens: torch.Tensor

    def apply(self, canvas: torch.Tensor) -> torch.Tensor:
        return torch.where(self.mask, self.tokens, canvas)


@dataclass
class CanvasResult:
    """One denoised canvas. `confidences` is the probability the last step's tempered distribution
    gave each output token (1.0 where held); `accepted[s][r]` is how many positions row r accepted at
    step s (held ones never count); `passes` counts decoder passes per row (a row that stopped early
    runs none after); `steps` is the passes run for the batch."""

    tokens: torch.Tensor
    confidences: torch.Tensor
    passes: torch.Tensor
    accepted: list[list[int]]
    stopped_early: torch.Tensor
    steps: int


def temperature(s: BlockSettings, remaining: int, device: torch.device) -> torch.Tensor | None:
    """The step's temperature as a float32 scalar tensor, computed as the reference does (the step
    count as an int32 tensor, so the float32 rounding is the same): t_max on the first step
    (remaining == max_steps), falling linearly towards t_min. None: no temperature."""
    if s.t_max is None or s.t_min is None:
        return None
    left = torch.tensor(remaining, dtype=torch.int32, device=device)
    return s.t_min + (s.t_max - s.t_min) * (left / s.max_steps)


def accept_mask(entropy: torch.Tensor, bound: float, held: torch.Tensor | None) -> torch.Tensor:
    """The positions to accept (B, C): the k lowest-entropy ones whose entropy sum less its largest
    term is within `bound` (sorted ascending, the largest is the k-th). Held positions sort last
    and are never chosen."""
    if held is not None:
        entropy = entropy.masked_fill(held, float("inf"))
    ordered, order = torch.sort(entropy, dim=-1, descending=False)
    chosen = torch.cumsum(ordered, dim=-1) - ordered <= bound
    mask = torch.zeros_like(chosen).scatter(-1, order, chosen)
    return mask if held is None else mask & ~held


class StableAndConfident:
    """The early stop: the argmax canvas equal for `stability` steps in a row and the mean entropy
    of the tempered logits under `threshold`. Held positions take no part in either."""

    def __init__(self, stability: int, threshold: float, held: torch.Tensor | None) -> None:
        self.stability = stability
        self.threshold = threshold
        self.held = held
        self.history: torch.Tensor | None = None

    def __call__(self, argmax: torch.Tensor, entropy: torch.Tensor) -> torch.Tensor:
        if self.stability == 0:
            stable = torch.ones(argmax.shape[0], dtype=torch.bool, device=argmax.device)
        else:
            if self.history is None:
                shape = (self.stability, *argmax.shape)
                self.history = torch.full(shape, -1, dtype=argmax.dtype, device=argmax.device)
            same = self.history == argmax[None]
            if self.held is not None:
                same = same | self.held[None]
            stable = same.all(dim=-1).all(dim=0)
            self.history = torch.cat([self.history[1:], argmax[None]])
        if self.held is None:
            mean = entropy.mean(dim=-1)
        else:
            free = (~self.held).to(entropy.dtype)
            mean = (entropy * free).sum(dim=-1) / free.sum(dim=-1).clamp(min=1.0)
        return stable & (mean < self.threshold)


def _entropy(logits: torch.Tensor) -> torch.Tensor:
    # torch's Categorical, as the reference: its normalisation and clamping round as the reference's
    # do, and a last-bit difference can reorder the sort (its argument check changes no value)
    return torch.distributions.Categorical(logits=logits, validate_args=False).entropy()


@dataclass
class _Canvas:
    """The loop's state between steps; rows in `finished` keep what they had when they stopped."""

    current: torch.Tensor  # the decoder's next input (B, C)
    argmax: torch.Tensor  # the text so far (B, C)
    confidence: torch.Tensor  # (B, C) float32
    self_cond: torch.Tensor | None
    finished: torch.Tensor  # (B,) bool
    passes: torch.Tensor  # (B,) int
    some_finished: bool = False  # finished.any() as of the last step (read with the loop's one sync)


def _step(
    runner: BlockRunner,
    s: BlockSettings,
    gen: torch.Generator,
    state: _Canvas,
    remaining: int,
    held: Held | None,
    stopper: StableAndConfident | None,
) -> torch.Tensor:
    """One decoder pass and what follows it; updates `state`, returns the accepted count per row (B,)."""
    logits = runner.decode(state.current, state.self_cond)
    rows, width = state.current.shape
    t = temperature(s, remaining, state.current.device)
    tempered = logits if t is None else logits / t
    probs = torch.softmax(tempered, dim=-1, dtype=torch.float32)
    sample = torch.multinomial(probs.view(-1, probs.shape[-1]), 1, generator=gen).view(rows, width)
    argmax = torch.argmax(tempered, dim=-1)
    confidence = probs.gather(-1, argmax[..., None]).squeeze(-1)
    entropy = _entropy(tempered)
    accept = accept_mask(entropy, s.entropy_bound, None if held is None else held.mask)
    noise = torch.randint(0, runner.vocab, (rows, width), generator=gen, device=state.current.device)
    current = torch.where(accept, sample, noise)
    if held is not None:
        current, argmax = held.apply(current), held.apply(argmax)
    before = state.finished.clone()
    if state.some_finished:
        keep = before[:, None]
        current = torch.where(keep, state.current, current)
        argmax = torch.where(keep, state.argmax, argmax)
        confidence = torch.where(keep, state.confidence, confidence)
        if state.self_cond is not None:
            tempered = torch.where(keep[..., None], state.self_cond, tempered)
    if stopper is not None:
        state.finished = before | stopper(argmax, entropy)
    state.current, state.argmax, state.confidence, state.self_cond = current, argmax, confidence, tempered
    return accept.sum(dim=-1) * ~before


def denoise_canvas(
    runner: BlockRunner,
    s: BlockSettings,
    gen: torch.Generator,
    *,
    held: Held | None = None,
    start: torch.Tensor | None = None,
    stop: StopCheck | None = None,
) -> CanvasResult:
    """Denoise one canvas against the runner's cached prompt. `start` (B, C) replaces the initial
    noise (which is drawn anyway, as the reference draws it even for a given canvas); `held`
    positions are fixed throughout; `stop` is asked before every decoder pass (True: Stopped)."""
    rows, width, dev = runner.batch, runner.canvas, runner.device
    if held is not None and bool(held.mask.all()):
        return _all_held(held)
    noise = torch.randint(0, runner.vocab, (rows, width), generator=gen, device=dev)
    current = noise if start is None else start
    if held is not None:
        current = held.apply(current)
    state = _Canvas(
        current=current,
        argmax=current,
        confidence=torch.zeros((rows, width), dtype=torch.float32, device=dev),
        self_cond=None,
        finished=torch.zeros(rows, dtype=torch.bool, device=dev),
        passes=torch.zeros(rows, dtype=torch.int64, device=dev),
    )
    stopper = None
    if s.stability_threshold is not None and s.confidence_threshold is not None:
        mask = None if held is None else held.mask
        stopper = StableAndConfident(s.stability_threshold, s.confidence_threshold, mask)
    counts: list[torch.Tensor] = []
    for remaining in range(s.max_steps, 0, -1):
        if stop is not None and stop():
            raise Stopped("stopped at a denoising step boundary")
        state.passes += ~state.finished
        counts.append(_step(runner, s, gen, state, remaining, held, stopper))
        if stopper is None:
            continue  # nothing can finish early: no sync with the device
        some, every = torch.stack([state.finished.any(), state.finished.all()]).tolist()
        state.some_finished = bool(some)
        if every:
            break
    confidence = state.confidence
    if held is not None:
        confidence = confidence.masked_fill(held.mask, 1.0)
    return CanvasResult(
        tokens=state.argmax,
        confidences=confidence,
        passes=state.passes,
        accepted=torch.stack(counts).tolist(),
        stopped_early=state.finished & (state.passes < s.max_steps),
        steps=len(counts),
    )


def _all_held(held: Held) -> CanvasResult:
    """Nothing to denoise: the held tokens, no pass run."""
    rows = held.mask.shape[0]
    return CanvasResult(
        tokens=held.tokens.clone(),
        confidences=torch.ones(held.mask.shape, dtype=torch.float32, device=held.mask.device),
        passes=torch.zeros(rows, dtype=torch.int64, device=held.mask.device),
        accepted=[],
        stopped_early=torch.zeros(rows, dtype=torch.bool, device=held.mask.device),
        steps=0,
    )


def revise_canvas(
    runner: BlockRunner,
    s: BlockSettings,
    gen: torch.Generator,
    tokens: torch.Tensor,
    renoise: torch.Tensor,
    *,
    held: Held | None = None,
    stop: StopCheck | None = None,
) -> CanvasResult:
    """Denoise again only the `renoise` positions (B, C) of a finished canvas `tokens` (B, C),
    holding every other one (and whatever `held` already holds). The runner's cache must hold
    exactly what precedes this canvas."""
    keep = ~renoise if held is None else ~renoise | held.mask
    fixed = tokens if held is None else held.apply(tokens)
    return denoise_canvas(runner, s, gen, held=Held(keep, fixed), stop=stop)


def refine_canvas(
    runner: BlockRunner,
    s: BlockSettings,
    gen: torch.Generator,
    result: CanvasResult,
    *,
    held: Held | None = None,
    stop: StopCheck | None = None,
) -> CanvasResult:
    """Up to `s.refine_rounds` rounds: re-noise the tokens whose confidence is under `s.tau`, hold
    the rest, denoise again. Confidences of tokens kept from before stay as they were."""
    for _ in range(s.refine_rounds):
        low = result.confidences < s.tau
        if held is not None:
            low = low & ~held.mask
        if not bool(low.any()):
            break
        again = revise_canvas(runner, s, gen, result.tokens, low, held=held, stop=stop)
        result = CanvasResult(
            tokens=again.tokens,
            confidences=torch.where(low, again.confidences, result.confidences),
            passes=result.passes + again.passes,
            accepted=result.accepted + again.accepted,
            stopped_early=again.stopped_early,
            steps=result.steps + again.steps,
        )
    return result


def with_overrides(s: BlockSettings, **changes: Any) -> BlockSettings:
    """`s` with the given (not None) settings changed, checked."""
    return replace(s, **{k: v for k, v in changes.items() if v is not None}).checked()
