"""Server settings from `initializationOptions`, with every default in one place."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cattrs

from lsp.gaps import Budgets
from model.protocol import SamplerSettings


@dataclass
class Settings:
    model: str | None = None  # checkpoint folder; None: the shipped default
    device: str = "cpu"
    threads: int = 0  # worker torch threads; 0: torch's default
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    budgets: Budgets = field(default_factory=Budgets)  # candidate gap lengths per kind of gap
    debounce_ms: int = 150  # automatic (as-you-type) requests wait this long for a pause
    snippets: str = "auto"  # doubtful spans as tab stops: "on", "off", or "auto" (if the client takes snippets)

    def __post_init__(self) -> None:
        if self.snippets not in ("on", "off", "auto"):
            raise ValueError(f"snippets must be on, off or auto, not {self.snippets!r}")
        if not 0 <= self.debounce_ms <= 10_000:
            raise ValueError(f"debounce_ms must be 0 to 10000, not {self.debounce_ms}")


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
