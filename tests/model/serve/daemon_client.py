"""Worker daemons for tests: start one (the one command builder, one torch thread), wait for it,
and connect with the one blocking client (`model.wire.client`)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from model.wire.client import Connection, wait_listening
from model.wire.endpoint import Address, socket_path
from model.wire.options import WorkerOptions, worker_command

WORKER = worker_command(threads=1)


def start_daemon(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*WORKER, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def default_socket() -> Path:
    """`--listen auto`'s socket for the worker's default flags (device `auto`)."""
    return socket_path(None, WorkerOptions().device)


def wait_for(path: Path, proc: subprocess.Popen[bytes] | None = None, timeout: float = 60.0) -> None:
    gone = (lambda: proc.poll() is not None) if proc is not None else (lambda: False)
    wait_listening(Address("unix", path=str(path)), timeout, gone)


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    wait_listening(Address("tcp", host="127.0.0.1", port=port), timeout, lambda: proc.poll() is not None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unix(path: Path) -> Connection:
    """A connection to the daemon at `path`, not greeted yet (call `hello`)."""
    return Connection.open(Address("unix", path=str(path)), timeout=60)


def tcp(port: int) -> Connection:
    return Connection.open(Address("tcp", host="127.0.0.1", port=port), timeout=60)
