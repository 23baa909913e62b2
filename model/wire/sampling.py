"""How a gap is denoised: the sampler settings a fill request carries, and how they are resolved.

Every field is optional on the wire (None: unset). A request sets only what its user chose; the
engine resolves the rest once per fill, each field from the first layer that sets it: the
request, then (for a request of profile "typing") the checkpoint family's as-you-type profile,
then the family's sampler defaults (model/families.py `Family.typing` / `Family.sampler`), then
SAMPLER_DEFAULTS. So a family's defaults mean something, and a server never pins a value its
user did not ask for. The sampler only ever sees resolved settings. Standard library only.
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
ORDERS = ("confidence", "margin", "entropy", "random")
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
    settings: SamplerSettings, profile: str, sampler: Mapping[str, Any], typing: Mapping[str, Any]
) -> SamplerSettings:
    """The settings a fill runs with: the request's over the family's `typing` profile (profile
    "typing" only) over its `sampler` defaults over the base."""
    return resolve(settings, *((typing,) if profile == "typing" else ()), sampler)


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
    if not isinstance(s.options, dict) or not all(isinstance(k, str) for k in s.options):
        raise ValueError("sampler.options must be a map of setting names to values")
