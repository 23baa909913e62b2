"""Stopping the worker daemons a test started: politely (shutdown), then for sure (SIGKILL)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from model.wire.client import shutdown
from model.wire.endpoint import Address


def alive(pid: int) -> bool:
    """Running (not a zombie waiting to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def daemon_pids(folder: Path) -> list[int]:
    """Pids written in the folder's lock files that are still daemons listening in this folder
    (a pid freed by a killed daemon may have gone to someone else's process since)."""
    pids = []
    for lock in folder.glob("worker-*.lock"):
        text = lock.read_text().strip()
        if not text.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{text}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "model.serve.worker" in cmdline and str(folder) in cmdline:
            pids.append(int(text))
    return pids


def stop_daemons(folder: Path, grace_s: float = 5.0) -> None:
    if not folder.is_dir():
        return
    pids = daemon_pids(folder)
    for sock in folder.glob("worker-*.sock"):
        try:
            shutdown(Address("unix", path=str(sock)), timeout=2.0)
        except OSError:
            pass
    until = time.monotonic() + grace_s
    while any(alive(p) for p in pids) and time.monotonic() < until:
        time.sleep(0.05)
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
