"""Counts and latencies a worker reports in `status`, and its memory."""

from __future__ import annotations

import os
import threading
from collections import deque

import torch

from model.wire.stats import percentile

RECENT = 1000  # latencies kept for the percentiles


class Stats:
    def __init__(self) -> None:
        self.served = 0
        self.cancelled = 0
        self.failed = 0
        self._latencies: deque[float] = deque(maxlen=RECENT)
        self._lock = threading.Lock()

    def served_one(self, ms: float) -> None:
        with self._lock:
            self.served += 1
            self._latencies.append(ms)

    def percentile(self, q: float) -> float:
        """The q-th percentile (0-100) of recent latencies in ms (`model.wire.stats`); 0 with none
        yet, since `status` always carries a number."""
        with self._lock:
            recent = list(self._latencies)
        value = percentile(recent, q)
        return 0.0 if value is None else value


def rss_mb() -> float:
    """Resident memory of this process now (Linux /proc), else its peak (getrusage)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def gpu_mb(device: str) -> float:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.memory_allocated() / 2**20
    return 0.0
