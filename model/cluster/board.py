"""The status board: where every replica posts its counters each second, and where the gateway
reads them for `status`. A plain Ray actor, named and detached, so it outlives a redeploy; a
replica that stops posting (dead, hung, scaled down) drops off after `MAX_AGE_S`.
"""

from __future__ import annotations

import time
from typing import Any

import ray

NAME = "fillgap-status"
NAMESPACE = "fillgap"
MAX_AGE_S = 5.0


@ray.remote(num_cpus=0)
class StatusBoard:
    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}

    def put(self, model: str, replica: str, status: dict[str, Any]) -> None:
        self._rows[(model, replica)] = (time.monotonic(), status)

    def rows(self, max_age_s: float = MAX_AGE_S) -> list[dict[str, Any]]:
        """The live replicas' last reports, by model then replica."""
        now = time.monotonic()
        self._rows = {k: v for k, v in self._rows.items() if now - v[0] <= max_age_s}
        return [status for _, (_, status) in sorted(self._rows.items())]


def board() -> Any:
    """The cluster's board, created on first use (the caller is connected to Ray)."""
    return StatusBoard.options(name=NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True).remote()
