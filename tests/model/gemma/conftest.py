"""Tiny DiffusionGemma folders, built once per session and keyword set (tests/model/gemma/folders.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.model.gemma.folders import build


@pytest.fixture(scope="session")
def gemma_folder(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """`gemma_folder(**build_keywords) -> Path`: the same keywords give the same folder (do not modify it)."""
    made: dict[str, Path] = {}
    root = Path(tmp_path_factory.mktemp("gemma"))

    def get(**kwargs: Any) -> Path:
        if kwargs.get("extra"):
            raise ValueError("`extra` tensors are not cached: call folders.build with your own tmp_path")
        key = repr(sorted(kwargs.items()))
        if key not in made:
            made[key] = build(root, name=f"folder{len(made)}", **kwargs)
        return made[key]

    return get
