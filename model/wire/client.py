"""The one blocking client of a worker: plain sockets, no event loop.

`fillgap status`, the concurrency bench and the tests talk to workers through it. `connect`
opens a connection to an `Address` (a Unix socket must be this user's; TCP sends the token) and
says Hello; a `Connection` then sends and reads frames, asks for status, fills, cancels and shuts
the worker down. The language server's own client is asynchronous (`lsp/worker/client.py`).
Standard library and `model.wire` only.
"""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from model.wire.endpoint import Address, check_own_socket
from model.wire.protocol import (
    Cancel,
    ErrorReply,
    FillRequest,
    FillResult,
    Hello,
    Ready,
    Shutdown,
    StatusRequest,
    WorkerStatus,
    encode_frame,
    from_wire,
    read_frame,
)


class Connection:
    """One connection to a worker. `open` only connects; `hello` (or `connect`) is the handshake."""

    def __init__(self, sock: socket.socket, address: Address) -> None:
        self.sock = sock
        self.address = address
        self.stream = sock.makefile("rb")
        self.ready: Ready | None = None
        self._ids = itertools.count(1)

    @classmethod
    def open(cls, address: Address, timeout: float | None = 60.0) -> Connection:
        """Connect (no hello yet); `timeout` bounds every later read too (None: wait for ever)."""
        if address.scheme == "unix":
            check_own_socket(Path(address.path))
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(address.path)
            except BaseException:
                sock.close()
                raise
            return cls(sock, address)
        return cls(socket.create_connection((address.host, address.port), timeout=timeout), address)

    def send(self, *msgs: object) -> None:
        self.sock.sendall(b"".join(encode_frame(m) for m in msgs))

    def recv(self) -> object:
        """The next message; ConnectionError when the worker closed the connection."""
        frame = read_frame(self.stream)
        if frame is None:
            raise ConnectionError(f"{self.address} closed the connection")
        return from_wire(frame)

    def hello(self, token: str | None = None) -> object:
        """Say hello; the worker's answer as it came (Ready, or an ErrorReply before it hangs up)."""
        self.send(Hello(token=token or ""))
        reply = self.recv()
        if isinstance(reply, Ready):
            self.ready = reply
        return reply

    def next_id(self) -> int:
        return next(self._ids)

    def reply_to(self, msg_id: int) -> object:
        """Read until the answer to request `msg_id` (answers to earlier requests are skipped)."""
        while True:
            reply = self.recv()
            if getattr(reply, "id", None) == msg_id:
                return reply

    def status(self) -> WorkerStatus:
        msg_id = self.next_id()
        self.send(StatusRequest(id=msg_id))
        reply = self.reply_to(msg_id)
        if not isinstance(reply, WorkerStatus):
            raise ConnectionError(f"status answered with {type(reply).__name__}")
        return reply

    def fill(self, request: FillRequest) -> FillResult | ErrorReply:
        """Send a fill and wait for its result, or its error (cancelled, deadline exceeded, ...)."""
        self.send(request)
        reply = self.reply_to(request.id)
        if not isinstance(reply, FillResult | ErrorReply):
            raise ConnectionError(f"fill answered with {type(reply).__name__}")
        return reply

    def cancel(self, msg_id: int) -> None:
        self.send(Cancel(id=msg_id))

    def shutdown(self) -> None:
        """Stop the worker (a shared one too); it sends no answer."""
        self.send(Shutdown())

    def at_eof(self) -> bool:
        """Whether the worker has hung up (reads whatever is left first)."""
        return self.stream.read() == b""

    def close(self) -> None:
        self.stream.close()
        self.sock.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def connect(address: Address, token: str | None = None, timeout: float | None = 60.0) -> Connection:
    """A connection that has said hello; ConnectionRefusedError when the worker refuses it."""
    conn = Connection.open(address, timeout)
    try:
        reply = conn.hello(token)
        if isinstance(reply, ErrorReply):
            raise ConnectionRefusedError(reply.message)
        if not isinstance(reply, Ready):
            raise ConnectionError(f"expected ready, got {type(reply).__name__}")
    except BaseException:
        conn.close()
        raise
    return conn


def query(address: Address, token: str | None = None, timeout: float = 5.0) -> WorkerStatus:
    """A worker's counters, over a connection of its own."""
    with connect(address, token, timeout) as conn:
        return conn.status()


def shutdown(address: Address, token: str | None = None, timeout: float = 5.0) -> None:
    with connect(address, token, timeout) as conn:
        conn.shutdown()


def listening(address: Address) -> bool:
    """Whether something accepts connections there now (no hello: nothing is asked of it)."""
    try:
        Connection.open(address, timeout=1.0).close()
    except OSError:
        return False
    return True


def wait_listening(address: Address, timeout: float, gone: Callable[[], bool] = lambda: False) -> None:
    """Wait until a worker listens at `address`; TimeoutError after `timeout` s, RuntimeError as
    soon as `gone()` says the process that was to listen has exited."""
    until = time.monotonic() + timeout
    while not listening(address):
        if gone():
            raise RuntimeError(f"the worker for {address} exited before it listened")
        if time.monotonic() > until:
            raise TimeoutError(f"nothing listens at {address} after {timeout:.0f}s")
        time.sleep(0.05)
