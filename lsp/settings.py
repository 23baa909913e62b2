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
