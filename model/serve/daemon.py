"""`fillgap worker --listen ...`: the worker as a daemon on a Unix socket and/or TCP.

The pattern of `gopls -remote=auto`: the first `fillgap serve` that needs a model starts the daemon
on the per-user socket for its configuration (`model/wire/endpoint.py`), later servers connect to it,
and it exits after `--idle-timeout` seconds with no connection and no work.

Two servers may start a daemon at the same moment. Each daemon first takes an exclusive lock on
`<socket>.lock` (before loading the model, so a loser loads nothing); the one that cannot, exits
with ALREADY_RUNNING and its server connects to the winner. The lock holder owns the socket
path: it removes a stale socket file, binds with mode 0600, and on exit unlinks it before the
lock is let go, so a newcomer never sees a socket of a dead daemon as live for long.

It listens only once the model is loaded (a 7B load takes minutes), so a server that connects
meanwhile keeps trying; to show how far the load is, the daemon keeps its last `Progress` in
`<socket>.progress` (`ProgressFile`), which waiting servers read.

A Unix connection from another user (SO_PEERCRED) is closed at once; over TCP the client's hello
must carry the token.
"""

from __future__ import annotations

import fcntl
import logging
import os
import selectors
import signal
import socket
import struct
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from model.wire.endpoint import Address, check_private_dir, lock_path, progress_path
from model.wire.protocol import Progress, encode_frame

if TYPE_CHECKING:  # the session brings torch; claiming the socket must not wait for that import
    from model.serve.session import Worker

log = logging.getLogger("fillgap.worker")

ALREADY_RUNNING = 3  # exit status: another daemon holds this socket
HELLO_TIMEOUT_S = 10.0  # a client that connects and says nothing is let go


def socket_answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect(str(path))
            return True
        except OSError:
            return False


def claim(sock: Path, wait_s: float = 10.0) -> int | None:
    """The lock on `sock` (a file descriptor to keep open), or None if a live daemon holds it.

    A held lock whose socket does not answer belongs to a daemon still loading or just exiting:
    wait for it up to wait_s."""
    check_private_dir(sock.parent)
    fd = os.open(lock_path(sock), os.O_RDWR | os.O_CREAT, 0o600)
    until = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if socket_answers(sock) or time.monotonic() > until:
                os.close(fd)
                return None
            time.sleep(0.1)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())  # for people and tests cleaning up
    return fd


class ProgressFile:
    """The load's progress for servers waiting on the socket (a daemon listens only once loaded, so
    a waiter cannot ask it): the last `Progress` as one frame in `<socket>.progress`, replaced
    whole (written aside, then renamed), removed once the daemon listens or exits."""

    def __init__(self, sock: Path | None) -> None:
        self.path = progress_path(sock) if sock is not None else None

    def write(self, progress: Progress) -> None:
        if self.path is None:
            return
        aside = self.path.with_suffix(".progress.tmp")
        try:
            fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, encode_frame(progress))
            finally:
                os.close(fd)
            os.replace(aside, self.path)
        except OSError as exc:  # a report lost is no reason to fail the load
            log.warning("cannot write %s: %s", self.path, exc)

    def remove(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path.with_suffix(".progress.tmp").unlink(missing_ok=True)


def bind_unix(path: Path) -> socket.socket:
    """Listen at path, mode 0600. The caller holds the lock, so a socket file already there is stale."""
    if path.exists() or path.is_symlink():
        path.unlink()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # no moment where the socket is open to others
    try:
        s.bind(str(path))
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    s.listen(64)
    return s


def bind_tcp(address: Address) -> socket.socket:
    family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((address.host, address.port))
    s.listen(64)
    return s


def peer_uid(conn: socket.socket) -> int | None:
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", raw)[1]


class Daemon:
    def __init__(self, worker: Worker, idle_timeout_s: float, token: str | None) -> None:
        self.worker = worker
        self.idle_timeout_s = idle_timeout_s
        self.token = token
        self._last_activity = time.monotonic()
        self._activity_lock = threading.Lock()

    def serve(self, listeners: list[tuple[socket.socket, Address]]) -> str:
        """Accept connections until shutdown, a signal, or idleness; returns why it stopped."""
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda *_: self.worker.stop.set())
        sel = selectors.DefaultSelector()
        for lsock, address in listeners:
            lsock.setblocking(False)
            sel.register(lsock, selectors.EVENT_READ, address)
        try:
            while not self.worker.stop.is_set():
                for key, _ in sel.select(timeout=0.25):
                    self._accept(key.fileobj, key.data)  # type: ignore[arg-type]
                if self._idle():
                    log.info("idle for %.0fs with no connection: exiting", self.idle_timeout_s)
                    return "idle"
            return "stopped"
        finally:
            sel.close()

    def _touch(self) -> None:
        with self._activity_lock:
            self._last_activity = time.monotonic()

    def _idle(self) -> bool:
        if self.idle_timeout_s <= 0 or self.worker.connections or self.worker.batcher.busy():
            self._touch()
            return False
        return time.monotonic() - self._last_activity > self.idle_timeout_s

    def _accept(self, lsock: socket.socket, address: Address) -> None:
        try:
            conn, peer = lsock.accept()
        except (BlockingIOError, InterruptedError):
            return
        conn.setblocking(True)
        self._touch()
        if address.scheme == "unix":
            uid = peer_uid(conn)
            if uid is not None and uid != os.getuid():
                log.warning("refused a connection from uid %d", uid)
                conn.close()
                return
            name = f"unix:{address.path}"
        else:
            name = f"tcp:{peer[0]}:{peer[1]}"
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.settimeout(HELLO_TIMEOUT_S)
        threading.Thread(
            target=self._session, args=(conn, name, address.scheme == "tcp"), daemon=True, name=f"fillgap-{name}"
        ).start()

    def _session(self, conn: socket.socket, name: str, tcp: bool) -> None:
        from model.serve.session import Session

        stream = conn.makefile("rb")
        session = Session(
            self.worker,
            stream,
            conn.sendall,
            name,
            token=self.token if tcp else None,
            on_hello=lambda: conn.settimeout(None),
        )
        try:
            why = session.run()
            log.info("connection %s closed (%s)", name, why)
        finally:
            session.open = False
            stream.close()
            conn.close()
            self._touch()


def release(sock: Path | None, bound_inode: int | None, lock_fd: int | None) -> None:
    """Unlink our socket (only if the file is still the one we bound), then let the lock go."""
    if sock is not None and bound_inode is not None:
        try:
            if os.lstat(sock).st_ino == bound_inode:
                sock.unlink()
        except FileNotFoundError:
            pass
    if lock_fd is not None:
        os.close(lock_fd)
