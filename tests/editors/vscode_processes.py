"""Processes for the VS Code harness: free ports, waiting with deadlines, the page driver's JSON-line
channel (tests/editors/vscode_driver.mjs), and ending a process tree, TERM then KILL, including what
left its process group (the worker's own session) or its parent (Chromium's crash handler).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class DriverError(RuntimeError):
    """The page driver answered an error (a selector that never appeared, a click that failed)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def until(what: str, probe: Callable[[], T], timeout: float, every: float = 0.1) -> T:
    """Poll `probe` until it is truthy and return it; raise TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)
    return value


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children first found by /proc's parent ids), even in other sessions."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def stop_tree(proc: subprocess.Popen[Any], grace: float = 5.0) -> None:
    """TERM the process group `proc` leads and every descendant (a worker has its own session), then KILL."""
    pids = [proc.pid, *descendants(proc.pid)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(alive(p) for p in pids):
            proc.poll()
            time.sleep(0.05)
        if not any(alive(p) for p in pids):
            break
    proc.poll()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


class Driver:
    """The Node page driver: one JSON request a line, answers matched by id."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str] = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def call(self, op: str, wait_s: float = 30.0, **args: Any) -> Any:
        """Send one request; `wait_s` bounds the wait for its answer (plus slack for the driver's own deadline)."""
        self.next_id += 1
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"id": self.next_id, "op": op, **args}) + "\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + wait_s + 30  # the driver's own deadline comes first
        while True:
            try:
                answer = json.loads(self.lines.get(timeout=max(0.1, deadline - time.monotonic())))
            except queue.Empty:
                raise TimeoutError(f"the page driver did not answer {op} in {wait_s + 30:g} s") from None
            if answer["id"] == self.next_id:
                break
        if not answer["ok"]:
            raise DriverError(f"{op} {args}: {answer['error']}")
        return answer["value"]


def stray(marker: str) -> list[int]:
    """Processes whose command line names `marker` (a session's own temp folder): those that left the tree."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes() and alive(int(cmdline.parent.name)):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return [pid for pid in found if pid != os.getpid()]


def kill_strays(marker: str, grace: float = 5.0) -> None:
    """TERM, then KILL, every process `stray(marker)` finds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = stray(marker)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(alive(p) for p in pids):
            time.sleep(0.05)
