"""Fixtures for the reliability tests: a raw `fillgap serve` per test, and the figures they report.

Each test's figures (requests fuzzed, faults injected, edits checked, memory) are printed and
merged into runs/reliability.json, which the issue's closing note quotes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.rpc import REPO, RawServer

FIGURES = REPO / "runs" / "reliability.json"
SOAK = os.environ.get("FILLGAP_SOAK") == "1"

# Small budgets and few steps: the point is the plumbing, and the machine has two shared cores.
QUICK = {
    "threads": 1,
    "sampler": {"steps": 4, "refine_rounds": 1},
    "budgets": {"body": [8, 16], "lines": [8], "line": [8]},
}


def record(test: str, **figures: Any) -> None:
    print(f"\n[{test}] " + ", ".join(f"{k}={v}" for k, v in figures.items()))
    FIGURES.parent.mkdir(exist_ok=True)
    try:
        data = json.loads(FIGURES.read_text())
    except (OSError, ValueError):
        data = {}
    data[test] = figures
    FIGURES.write_text(json.dumps(data, indent=2) + "\n")


@pytest.fixture()
def serve(tmp_path: Path) -> Iterator[Callable[..., RawServer]]:
    """Start `fillgap serve` (stderr to a file under tmp_path); every one started is closed after."""
    started: list[RawServer] = []

    def start(log_level: str = "WARNING", env: dict[str, str] | None = None) -> RawServer:
        server = RawServer(tmp_path / f"serve-{len(started)}.stderr", log_level, env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()
