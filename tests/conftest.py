"""Shared fixtures: the shipped checkpoint, and tiny random checkpoints built on the spot."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from model.checkpoint import DEFAULT_CHECKPOINT
from tests.daemons import stop_daemons

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def shipped_checkpoint() -> Path:
    assert (DEFAULT_CHECKPOINT / "model.safetensors").is_file(), "the shipped checkpoint is missing"
    return DEFAULT_CHECKPOINT


@pytest.fixture(autouse=True)
def private_worker_sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Each test gets its own socket folder, so its servers never share a worker with the user's or
    another test's; any daemon started there is stopped afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="fg-", dir="/tmp"))  # short: a socket path has ~100 bytes
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    yield folder
    stop_daemons(folder / "fillgap")
    shutil.rmtree(folder, ignore_errors=True)
