"""Server settings from `initializationOptions`, with every default in one place."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import cattrs

from lsp.fill.gaps import Budgets
from lsp.fill.syntax import LANGUAGES
from lsp.worker.settings import WORKER_MODES, WorkerSettings
from model.wire.options import WorkerOptions
from model.wire.protocol import SamplerSettings

__all__ = ["WORKER_MODES", "Settings", "TypingProfile", "WorkerSettings", "from_options"]


@dataclass
class TypingProfile:
    """How as-you-type (Automatic) requests are filled: latency first. An Invoked request, a code
    action or a command gets the full `sampler` and `budgets`. Measured on the shipped model
    (1 thread, 30 held-out bodies, machine under load): p50 3.1 s with the full profile (30
    offered), 0.22 s with this one (23 offered)."""

    enabled: bool = True
    # 8 steps and no refinement: on 30 held-out bodies 23 offered at p50 219 ms; 6 steps + one
    # refinement round offered 24 at 226 ms but nothing on short files like tests/editors' bodies.
    steps: int = 8
    refine_rounds: int = 0
    dual_cache: bool = True  # prefix/suffix keys and values computed once per fill, not per step
    # Two lengths, not one: with the cache a second row costs little, and on 30 held-out bodies it
    # offered 27 fills where one length offered 23 (p50 216 vs 222 ms, machine under load).
    budgets: Budgets = field(default_factory=lambda: Budgets(body=(16, 32), lines=(16, 32), line=(8, 16)))
    resample: bool = False  # no second, sampled set of candidates when none parses (it doubles the time)

    def sampler(self, base: SamplerSettings) -> SamplerSettings:
        return replace(base, steps=self.steps, refine_rounds=self.refine_rounds, dual_cache=self.dual_cache)


@dataclass
class Settings:
    model: str | None = WorkerOptions.model  # checkpoint folder; None: the shipped default
    device: str = WorkerOptions.device  # the worker's own defaults, declared once in model.wire.options
    threads: int = WorkerOptions.threads  # worker torch threads; 0: torch's default
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    budgets: Budgets = field(default_factory=Budgets)  # candidate gap lengths per kind of gap
    debounce_ms: int = 150  # automatic (as-you-type) requests wait this long for a pause
    typing: TypingProfile = field(default_factory=TypingProfile)  # automatic requests: latency first
    snippets: str = "auto"  # doubtful spans as tab stops: "on", "off", or "auto" (if the client takes snippets)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    languages: list[str] | None = None  # languageIds to fill in; None: every language with a grammar
    log_documents: bool = False  # debugging: logs may quote messages that hold document text

    def __post_init__(self) -> None:
        if self.snippets not in ("on", "off", "auto"):
            raise ValueError(f"snippets must be on, off or auto, not {self.snippets!r}")
        if not 0 <= self.debounce_ms <= 10_000:
            raise ValueError(f"debounce_ms must be 0 to 10000, not {self.debounce_ms}")
        unknown = sorted(set(self.languages or ()) - set(LANGUAGES))
        if unknown:
            raise ValueError(f"languages: no grammar for {unknown}; known: {sorted(LANGUAGES)}")

    def fills(self, language_id: str) -> bool:
        """Whether documents of this languageId get suggestions."""
        return language_id in LANGUAGES and (self.languages is None or language_id in self.languages)


_converter = cattrs.Converter(forbid_extra_keys=True)


def from_options(options: Any) -> Settings:
    """Typed settings; raises ValueError naming the bad key for malformed options."""
    if options is None:
        return Settings()
    try:
        return _converter.structure(options, Settings)
    except Exception as exc:  # cattrs groups errors in ExceptionGroups
        if isinstance(exc, cattrs.BaseValidationError):
            raise ValueError(f"invalid initializationOptions: {'; '.join(cattrs.transform_error(exc))}") from exc
        raise ValueError(f"invalid initializationOptions: {exc}") from exc
