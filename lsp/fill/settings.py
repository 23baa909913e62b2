"""Server settings from `initializationOptions`, with every default in one place."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import cattrs
from cattrs.v import format_exception

from lsp.fill.gaps import Budgets
from lsp.fill.syntax import LANGUAGES
from lsp.worker.settings import WORKER_MODES, WorkerSettings
from model.wire.options import WorkerOptions
from model.wire.protocol import SamplerSettings
from model.wire.sampling import check as check_sampler

__all__ = ["WORKER_MODES", "Settings", "TypingProfile", "WorkerSettings", "from_options"]


@dataclass
class TypingProfile:
    """How as-you-type (Automatic) requests are filled: latency first. An Invoked request, a code
    action or a command gets the full `sampler` and `budgets`. Its requests go as profile "typing":
    what is unset here comes from the checkpoint family's typing profile (model/families.py; the
    shipped model's: 4 steps, two refinement rounds, the dual cache) and one syntax-repair round
    (lsp/fill/pipeline.py TYPING_REPAIR_ROUNDS). Measured on the shipped model (1 thread, 30 held-out
    bodies, machine under load): p50 3.1 s with the full profile (30 offered), 0.22 s with its
    typing profile at 8 steps (23 offered); 4 steps cut that by a third (100 typing positions)."""

    enabled: bool = True
    # None: the family's. For the shipped model 4 steps and two refinement rounds (model/families.py
    # says why). Earlier, with no refinement, on 100 held-out typing positions (the bench's), 8 steps
    # offered 24 at p50 501 ms, 4 steps 25 at 329 ms, 3 steps 26 at 278 ms (one worker, interleaved,
    # machine under load). Earlier, 6 steps + one refinement round
    # offered 24 of 30 bodies at 226 ms but nothing on short files like tests/editors' bodies.
    steps: int | None = None
    refine_rounds: int | None = None
    dual_cache: bool | None = None  # prefix/suffix keys and values computed once per fill, not per step
    # Block diffusion (DiffusionGemma): denoising steps per canvas, at most. None: the family's typing value,
    # else the checkpoint's generation_config.json, else the reference's 48.
    max_denoising_steps: int | None = None
    # One length: the first (full) pass is most of a typing fill and costs what its rows do. On the
    # bench's 100 held-out typing positions (lsp/bench/e2e.py, one worker, 2026-12-02) one row filled
    # at p50 123 ms against 158 ms for two lengths (16, 32 / 8, 16; stage-4 weights, quiet machine).
    # It offers less: with the stage-5 weights 22 fills (11 shown at the gate) at 8 tokens for the
    # rest of a line, 23 (9) at 16, 29 (16) with two lengths. 8, not 16: the rest of a line is short,
    # and at 16 the model wrote `.\n\n"""` after `return w` where 8 gives `, n` (the VS Code test).
    # A blank line gets two short lengths, 8 and 16, not one of 32: most lines are short, and a long
    # row's tail is filler the model must guess too. On the 200 seeded HumanEval single-line tasks
    # typed (stage-7 weights, 2026-12-04, results/typing-profile/), fills shown at the gate 0.24
    # went from 62 with (32,) to 96 with (16,), 116 with (8,), 123 with (8, 16) and 132 with (8, 16)
    # and two refinement rounds (model/families.py), against 149 for the full profile; the raw
    # parse share from 28.5% to 61%. The share passing held (14 shown and passing against 11).
    budgets: Budgets = field(default_factory=lambda: Budgets(body=(32,), lines=(8, 16), line=(8,)))
    # No second, sampled set of candidates when none parses: at the bench's typing positions it
    # fires often, and took the p50 from 74 to 230 ms (p95 392) for no more fills shown.
    resample: bool = False
    # The gate (lsp/fill/gate.py): a fill scoring under this (the geometric mean of its tokens'
    # confidences), or a trivial one, is not shown while typing; asked for, it is. 0: no gate.
    # None: the threshold calibrated for the model's weights, which the worker reports (our
    # checkpoints' config.json `fillgap_gate`, from `fillgap measure --calibrate-gate` on held-out
    # lines; the shipped weights': 0.55, results/gate-calibration.json), and for a model with none
    # (every hub checkpoint: one model's confidences say nothing of another's) trivial fills alone.
    gate: float | None = None

    def sampler(self, base: SamplerSettings) -> SamplerSettings:
        """The full profile's settings with this profile's four in place of theirs (None: the
        family's typing value, not the full profile's)."""
        return replace(
            base,
            steps=self.steps,
            refine_rounds=self.refine_rounds,
            dual_cache=self.dual_cache,
            max_denoising_steps=self.max_denoising_steps,
        )


@dataclass
class Settings:
    model: str | None = WorkerOptions.model  # checkpoint folder; None: the shipped default
    device: str = WorkerOptions.device  # the worker's own defaults, declared once in model.wire.options
    threads: int = WorkerOptions.threads  # worker torch threads; 0: torch's default
    # Only what the user set goes to the worker; unset fields are the checkpoint family's defaults.
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
        if self.typing.gate is not None and not 0 <= self.typing.gate <= 1:
            raise ValueError(f"typing.gate must be 0 to 1 (a probability; 0: off), not {self.typing.gate}")
        unknown = sorted(set(self.languages or ()) - set(LANGUAGES))
        if unknown:
            raise ValueError(f"languages: no grammar for {unknown}; known: {sorted(LANGUAGES)}")
        # Refused here, naming the key, rather than by the worker at every fill.
        for name, settings in (("sampler", self.sampler), ("typing", self.typing.sampler(SamplerSettings()))):
            try:
                check_sampler(settings)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from exc

    def fills(self, language_id: str) -> bool:
        """Whether documents of this languageId get suggestions."""
        return language_id in LANGUAGES and (self.languages is None or language_id in self.languages)


_converter = cattrs.Converter(forbid_extra_keys=True)


def _say(exc: BaseException, kind: type | None) -> str:
    """cattrs' wording, but a check of our own (a ValueError from __post_init__) says what it found."""
    if isinstance(exc, ValueError) and kind is None and str(exc):
        return f"invalid value: {exc}"
    return format_exception(exc, kind)


def from_options(options: Any) -> Settings:
    """Typed settings; raises ValueError naming the bad key for malformed options."""
    if options is None:
        return Settings()
    try:
        return _converter.structure(options, Settings)
    except Exception as exc:  # cattrs groups errors in ExceptionGroups
        if isinstance(exc, cattrs.BaseValidationError):
            said = cattrs.transform_error(exc, format_exception=_say)
            raise ValueError(f"invalid initializationOptions: {'; '.join(said)}") from exc
        raise ValueError(f"invalid initializationOptions: {exc}") from exc
