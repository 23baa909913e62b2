"""How a gap is denoised: the sampler settings a fill request carries, and how they are resolved.

Every field is optional on the wire (None: unset). A request sets only what its user chose; the
engine resolves the rest once per fill, each field from the first layer that sets it: the
request, then (for a request of profile "typing") the checkpoint family's as-you-type profile,
then the family's sampler defaults (model/families.py `Family.typing` / `Family.sampler`), then
SAMPLER_DEFAULTS. So a family's defaults mean something, and a server never pins a value its
user did not ask for. The sampler only ever sees resolved settings. Standard library only.

Two engines read these. The masked-diffusion engine reads the masked fields (steps ... dual_cache)
and refuses a request that sets a block-diffusion one (BLOCK_FIELDS: the entropy bound, the
temperature schedule, denoising steps per canvas, the stop thresholds, the infill strategy), so a
setting never silently does nothing. The block-diffusion engine (DiffusionGemma) reads
BLOCK_FIELDS and seed and leaves the masked-only ones alone (the server's resampling sets
temperature and dual_cache whatever the engine). For a block-diffusion checkpoint its
generation_config.json is one more layer, between the family's typing profile and its sampler
defaults (`from_generation_config`, `for_request(..., checkpoint=)`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

# The base every family starts from: tuned for our own 8k-vocabulary checkpoints.
SAMPLER_DEFAULTS: dict[str, Any] = {
    "steps": 8,
    "refine_rounds": 2,
    "tau": 0.35,
    "temperature": 0.0,
    "top_p": 1.0,
    "seed": 0,
    "order": "confidence",
    "threshold": 0.0,
    "block": 0,
    "dual_cache": False,
}
# Block diffusion (DiffusionGemma): the reference's defaults for a checkpoint whose
# generation_config.json leaves them out (transformers 5.24, models/diffusion_gemma/
# generation_diffusion_gemma.py, DiffusionGemmaGenerationConfig._get_default_generation_params).
BLOCK_DEFAULTS: dict[str, Any] = {
    "entropy_bound": 0.1,
    "t_max": 0.8,
    "t_min": 0.4,
    "max_denoising_steps": 48,
    "stability_threshold": 1,
    "confidence_threshold": 0.005,
    # Ours: the one published checkpoint is instruction-tuned, and in inpainting only the last
    # canvas of a gap longer than one canvas sees the suffix (model/gemma_inpaint.py).
    "infill": "instruction",
}
BLOCK_FIELDS: tuple[str, ...] = tuple(BLOCK_DEFAULTS)
SAMPLER_DEFAULTS.update(BLOCK_DEFAULTS)
ORDERS = ("confidence", "margin", "entropy", "random")
INFILLS = ("instruction", "inpainting")  # the prompt in a chat turn, or the suffix held on the canvas
PROFILES = ("full", "typing")  # full: an explicit request; typing: as-you-type, latency first


@dataclass
class SamplerSettings:
    """How the worker denoises a gap. None leaves a field to the family's default, then the base."""

    steps: int | None = None  # parallel unmasking steps for the whole gap (per block with `block`)
    refine_rounds: int | None = None  # re-mask-and-refine passes after every position is committed
    tau: float | None = None  # tokens under this confidence are re-masked in a refinement round
    temperature: float | None = None  # 0 is greedy
    top_p: float | None = None  # nucleus sampling when temperature > 0
    seed: int | None = None
    order: str | None = None  # which masked positions to commit first: confidence|margin|entropy|random
    threshold: float | None = None  # > 0: commit every position above it each step (at least one), as Fast-dLLM
    block: int | None = None  # > 0: decode the gap left to right in blocks of this many tokens
    dual_cache: bool | None = None  # reuse prefix/suffix keys and values between steps (approximate, Fast-dLLM)
    # Block diffusion only (BLOCK_FIELDS); unset: the checkpoint's generation_config.json, else BLOCK_DEFAULTS.
    entropy_bound: float | None = None  # accept lowest-entropy tokens while their entropy sum minus its max is under it
    t_max: float | None = None  # temperature at a canvas's first step, falling linearly to ...
    t_min: float | None = None  # ... this at its last
    max_denoising_steps: int | None = None  # steps per canvas, at most (the stop criterion may end it sooner)
    stability_threshold: int | None = None  # stop once the argmax canvas repeated this many steps (0: no check)
    confidence_threshold: float | None = None  # ... and the canvas's mean token entropy is under this
    infill: str | None = None  # "instruction" (a chat turn asks for the middle) or "inpainting" (suffix held)
    # Settings only some engines know (by name); an engine refuses a name it does not know.
    options: dict[str, Any] = field(default_factory=dict)

    def set_fields(self) -> dict[str, Any]:
        """What this sets: the fields not None, and `options` when not empty (what the wire carries)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}
        if not self.options:
            out.pop("options", None)
        return out


def base(**values: Any) -> SamplerSettings:
    """Fully set settings: `values` over SAMPLER_DEFAULTS (for code that runs the sampler directly)."""
    return resolve(SamplerSettings(**values))


def resolve(settings: SamplerSettings, *defaults: Mapping[str, Any]) -> SamplerSettings:
    """Every field set: from `settings` if it sets it, else from the first of `defaults` that does
    (most specific first), else SAMPLER_DEFAULTS. `options` merge the same way, name by name.
    ValueError for a default that names no setting (a typo in a family's table)."""
    for layer in defaults:
        unknown = sorted(set(layer) - set(SAMPLER_DEFAULTS) - {"options"})
        if unknown:
            raise ValueError(f"sampler defaults {unknown} name no setting; known: {sorted(SAMPLER_DEFAULTS)}")
    values: dict[str, Any] = {}
    for name, fallback in SAMPLER_DEFAULTS.items():
        chain = [getattr(settings, name), *(layer.get(name) for layer in defaults)]
        values[name] = next((v for v in chain if v is not None), fallback)
    options: dict[str, Any] = {}
    for layer in reversed(defaults):
        options.update(layer.get("options") or {})
    options.update(settings.options)
    return SamplerSettings(**values, options=options)


def for_request(
    settings: SamplerSettings,
    profile: str,
    sampler: Mapping[str, Any],
    typing: Mapping[str, Any],
    checkpoint: Mapping[str, Any] | None = None,
) -> SamplerSettings:
    """The settings a fill runs with: the request's over the family's `typing` profile (profile
    "typing" only) over the checkpoint's own defaults (`from_generation_config`) over the family's
    `sampler` defaults over the base."""
    layers = (*((typing,) if profile == "typing" else ()), *((checkpoint,) if checkpoint else ()), sampler)
    return resolve(settings, *layers)


# generation_config.json key -> our field; the entropy bound sits in a nested map there.
_GENERATION_KEYS = {
    "t_max": "t_max",
    "t_min": "t_min",
    "max_denoising_steps": "max_denoising_steps",
    "stability_threshold": "stability_threshold",
    "confidence_threshold": "confidence_threshold",
}


def from_generation_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The block-diffusion defaults a checkpoint's generation_config.json sets, as a defaults layer
    for `for_request`: only keys it sets to a value of the right kind (a bad value is left to the
    next layer rather than refusing the checkpoint; `check` says which)."""
    out: dict[str, Any] = {}
    for theirs, ours in _GENERATION_KEYS.items():
        if config.get(theirs) is not None:
            out[ours] = config[theirs]
    nested = config.get("sampler_config")
    if isinstance(nested, Mapping) and nested.get("entropy_bound") is not None:
        out["entropy_bound"] = nested["entropy_bound"]
    return {k: v for k, v in out.items() if _kind_ok(v, SAMPLER_DEFAULTS[k])}


def refuse_fields(
    settings: SamplerSettings, names: Collection[str], engine: str, owner: str = "block-diffusion"
) -> None:
    """ValueError naming the fields of `names` that `settings` sets: settings of the `owner` engine
    that `engine` does not take (a request's own settings: resolved ones set every field)."""
    chosen = sorted(n for n in names if getattr(settings, n) is not None)
    if chosen:
        said = ", ".join(f"sampler.{n}" for n in chosen)
        raise ValueError(f"{said}: settings of the {owner} engine; the {engine} engine does not take them (unset them)")


def refuse_unknown_options(settings: SamplerSettings, known: Collection[str], engine: str) -> None:
    """ValueError naming the options `engine` does not take."""
    unknown = sorted(set(settings.options) - set(known))
    if unknown:
        takes = ", ".join(sorted(known)) or "none"
        raise ValueError(f"sampler options {unknown} are not settings of the {engine} engine (it takes: {takes})")


def _kind_ok(value: Any, fallback: Any) -> bool:
    if isinstance(fallback, bool):
        return isinstance(value, bool)
    if isinstance(fallback, float):  # a whole number is a fine float (JSON writes 1.0 as 1)
        return isinstance(value, int | float) and not isinstance(value, bool)
    return type(value) is type(fallback)


def check(settings: SamplerSettings) -> None:
    """ValueError unless every field that is set has its type and range; unset fields pass."""
    for name, fallback in SAMPLER_DEFAULTS.items():
        value = getattr(settings, name)
        if value is not None and not _kind_ok(value, fallback):
            raise ValueError(f"sampler.{name} must be {type(fallback).__name__} (or unset)")
    s = settings
    if s.order is not None and s.order not in ORDERS:
        raise ValueError(f"order must be one of {', '.join(ORDERS)}")
    if s.infill is not None and s.infill not in INFILLS:
        raise ValueError(f"infill must be one of {', '.join(INFILLS)} (sampler.infill is {s.infill!r})")
    ranges = {
        "steps": (1, 1024),
        "refine_rounds": (0, 16),
        "block": (0, 1024),
        "tau": (0.0, 1.0),
        "threshold": (0.0, 1.0),
        "top_p": (0.0, 1.0),
        "temperature": (0.0, float("inf")),
    }
    for name, (low, high) in ranges.items():
        value = getattr(s, name)
        if value is not None and not (low <= value <= high and (name != "top_p" or value > 0)):
            raise ValueError(
                "steps 1..1024, refine_rounds 0..16, block 0..1024, tau and threshold in [0, 1], "
                f"top_p in (0, 1], temperature >= 0 (sampler.{name} is {value!r})"
            )
    _check_block(s)
    if not isinstance(s.options, dict) or not all(isinstance(k, str) for k in s.options):
        raise ValueError("sampler.options must be a map of setting names to values")


_BLOCK_RANGES = {  # (low, high, low included); finite throughout: JSON may carry no inf, msgpack may
    "entropy_bound": (0.0, 1000.0, False),
    "t_max": (0.0, 100.0, False),
    "t_min": (0.0, 100.0, True),
    "max_denoising_steps": (1, 1024, True),
    "stability_threshold": (0, 64, True),
    "confidence_threshold": (0.0, 1000.0, False),
}


def _check_block(s: SamplerSettings) -> None:
    """The block-diffusion fields' ranges: the reference's (entropy bound, confidence threshold and
    t_max above 0, t_max above t_min) with upper limits of ours."""
    for name, (low, high, closed) in _BLOCK_RANGES.items():
        value = getattr(s, name)
        if value is not None and not ((low <= value if closed else low < value) and value <= high):
            raise ValueError(
                "entropy_bound in (0, 1000], t_max in (0, 100], t_min in [0, 100], max_denoising_steps 1..1024, "
                f"stability_threshold 0..64, confidence_threshold in (0, 1000] (sampler.{name} is {value!r})"
            )
    if s.t_max is not None and s.t_min is not None and s.t_max <= s.t_min:
        raise ValueError(f"sampler.t_max ({s.t_max}) must be above sampler.t_min ({s.t_min}): the schedule falls")
