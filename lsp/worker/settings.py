"""Which worker serves a server's fills, and how long a fill may take: `initializationOptions.worker`.

`deadline_ms` here is the one fill deadline default: the server, `fillgap fill`, `measure` and
`eval` all send it (or what their settings or `--deadline-ms` make of it) with every fill.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

WORKER_MODES = ("shared", "private")


@dataclass
class WorkerSettings:
    """Which worker serves fills (see lsp/worker/connectors.py)."""

    mode: str = "shared"  # shared: the per-user daemon for this model, started if needed; private: a child
    # A worker someone runs: tcp://HOST:PORT (token needed), unix:///PATH, or a team's cluster
    # (`fillgap cluster up`): http(s)://HOST:PORT/fillgap (token needed).
    address: str | None = None
    token_file: str | None = None  # for a tcp:// or http(s):// address; else $FILLGAP_TOKEN
    model: str = ""  # with a cluster: the name of the model to fill with ("": the cluster's first)
    idle_timeout_s: int = 600  # a shared daemon this server starts exits after this long unused
    deadline_ms: int = 30_000  # a fill not done by then is given up; no answer 5 s later: the worker is hung

    def __post_init__(self) -> None:
        if self.mode not in WORKER_MODES:
            raise ValueError(f"worker.mode must be shared or private, not {self.mode!r}")
        if self.idle_timeout_s < 0:
            raise ValueError("worker.idle_timeout_s must be >= 0 (0: never)")
        check_deadline(self.deadline_ms)


def check_deadline(ms: int) -> None:
    if not 100 <= ms <= 600_000:
        raise ValueError(f"worker.deadline_ms must be 100 to 600000, not {ms}")


def add_deadline_argument(parser: argparse.ArgumentParser) -> None:
    """`--deadline-ms` for commands that fill through a worker, defaulting to the one default."""

    def deadline(text: str) -> int:
        try:
            check_deadline(int(text))
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc).replace("worker.deadline_ms", "--deadline-ms")) from None
        return int(text)

    parser.add_argument(
        "--deadline-ms",
        type=deadline,
        default=WorkerSettings.deadline_ms,
        help="give a fill up after this many ms (a whole file's joint fill on a busy CPU may need more)",
    )
