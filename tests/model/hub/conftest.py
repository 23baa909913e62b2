"""Hub-shaped folders, built once per session: building one takes about a second (a 152k-row
vocabulary and output layer), loading it another, and several tests read the same folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.model.hub.folders import HubFolder, build

BIAS = 1.25  # head rows of the filler and the specials: they win at about a third of a gap's positions


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., HubFolder]:
    made: dict[tuple[str, float], HubFolder] = {}
    root = Path(tmp_path_factory.mktemp("hub"))

    def get(name: str, bias: float = BIAS) -> HubFolder:
        key = (name, bias)
        if key not in made:
            made[key] = build(name, root / f"bias{bias}", bias=bias)
        return made[key]

    return get
