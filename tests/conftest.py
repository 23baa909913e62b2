"""Shared fixtures: the shipped checkpoint, and tiny random checkpoints built on the spot."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.checkpoint import DEFAULT_CHECKPOINT

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def shipped_checkpoint() -> Path:
    assert (DEFAULT_CHECKPOINT / "model.safetensors").is_file(), "the shipped checkpoint is missing"
    return DEFAULT_CHECKPOINT
