"""A blocking client for a worker daemon, for tests: start one, connect, say hello, send, receive."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from model.wire.endpoint import socket_path
from model.wire.protocol import Hello, encode_frame, from_wire, read_frame

WORKER = [sys.executable, "-m", "model.serve.worker", "--threads", "1"]


def start_daemon(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*WORKER, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def default_socket() -> Path:
    return socket_path(None, "cpu")


def wait_for(path: Path, proc: subprocess.Popen[bytes] | None = None, timeout: float = 60.0) -> None:
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"daemon exited with {proc.returncode}")
        if path.exists():
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(str(path))
                return
            except OSError:
                pass
        time.sleep(0.05)
    raise TimeoutError(f"no daemon at {path}")


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    until = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > until:
                raise TimeoutError(f"nothing listens on port {port} (daemon status {proc.poll()})") from None
            time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Conn:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.stream = sock.makefile("rb")

    @classmethod
    def unix(cls, path: Path) -> Conn:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(60)
        s.connect(str(path))
        return cls(s)

    @classmethod
    def tcp(cls, port: int) -> Conn:
        return cls(socket.create_connection(("127.0.0.1", port), timeout=60))

    def send(self, *msgs: object) -> None:
        self.sock.sendall(b"".join(encode_frame(m) for m in msgs))

    def recv(self) -> object:
        return from_wire(read_frame(self.stream))

    def hello(self, token: str = "") -> object:
        self.send(Hello(token=token))
        return self.recv()

    def at_eof(self) -> bool:
        return self.stream.read() == b""

    def close(self) -> None:
        self.stream.close()
        self.sock.close()
