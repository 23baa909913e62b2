"""How a server reaches a worker: a private child, the user's shared daemon, or a remote worker.

Each connector opens a `Link` (frames in, frames out, the worker's `Ready`) and says what worker
it reaches (`key`), so new settings that reach the same one keep the connection. A start may take
minutes (a 7B checkpoint): the worker reports `Progress` while it loads, which the connector
passes on, and each report extends the start's time (`StartClock`).

- `ChildWorker`: `python -m model.serve.worker` as this server's child on stdio; it dies with us.
- `SharedDaemon`: the per-user daemon for this model and device (`model/wire/endpoint.py`). If nobody
  listens on its socket, start one, detached, and keep trying to connect; when two servers start
  one at once, the daemons settle it with a lock (`model/serve/daemon.py`) and both servers end up on the
  winner. The daemon outlives us and exits when idle. It listens only once loaded; meanwhile its
  progress is read from the file beside its socket.
- `RemoteWorker`: a worker someone else runs (`tcp://HOST:PORT` with a token, or a Unix socket).
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from model.wire.endpoint import (
    Address,
    EndpointError,
    check_own_socket,
    log_path,
    parse_address,
    progress_path,
    read_token,
    socket_path,
    worker_key,
)
from model.wire.options import worker_command
from model.wire.protocol import (
    HEADER_SIZE,
    ErrorReply,
    Hello,
    Progress,
    ProtocolError,
    Ready,
    VersionMismatch,
    decode_body,
    encode_frame,
    frame_length,
    from_wire,
)

ALREADY_RUNNING = 3  # model.serve.daemon's exit status when another daemon serves the socket (not imported: torch)
REPO_ROOT = Path(__file__).resolve().parents[2]
STREAM_LIMIT = 2**26  # a fill result may be large; asyncio's 64 KiB default is not
PROGRESS_STALL_S = 60.0  # a start reporting progress may go on this long past its last report
HELLO_READY_S = 30.0  # a listening worker answers hello at once: it listens only once loaded

ProgressFn = Callable[[Progress], None]
log = logging.getLogger("fillgap.worker_client")


class WorkerUnavailable(RuntimeError):
    pass


class FrameWriter(Protocol):
    """Where a link's frames go: a stream's writer, or a cluster's requests (lsp/worker/cluster.py)."""

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def close(self) -> None: ...

    def is_closing(self) -> bool: ...


@dataclass
class Link:
    reader: asyncio.StreamReader
    writer: FrameWriter
    ready: Ready


class Connector(Protocol):
    key: tuple[object, ...]
    shares: bool  # closing the server leaves the worker running for others
    model_name: str  # what fills name as their model ("": the one worker reached; a cluster's own names)

    async def connect(self, timeout: float, progress: ProgressFn | None = None) -> Link:
        """A link to a ready worker within `timeout` s (extended while it reports progress, each
        report passed to `progress`); WorkerUnavailable otherwise."""
        ...

    async def stop(self, link: Link) -> None: ...


class StartClock:
    """A start's deadline: `timeout` s from now, and never less than PROGRESS_STALL_S past the last
    progress report (a load that is moving is not given up)."""

    def __init__(self, timeout: float, progress: ProgressFn | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self.started = self._loop.time()
        self.deadline = self.started + timeout
        self._progress = progress

    def left(self) -> float:
        return max(0.0, self.deadline - self._loop.time())

    def waited(self) -> float:
        return self._loop.time() - self.started

    def heard(self, report: Progress) -> None:
        self.deadline = max(self.deadline, self._loop.time() + PROGRESS_STALL_S)
        if self._progress is not None:
            try:
                self._progress(report)
            except Exception:  # showing progress must never fail the start
                log.exception("progress report failed")


async def read_message(reader: asyncio.StreamReader) -> object:
    head = await reader.readexactly(HEADER_SIZE)
    return from_wire(decode_body(await reader.readexactly(frame_length(head))))


async def read_ready(reader: asyncio.StreamReader, clock: StartClock) -> Ready:
    """The worker's `ready`, passing on the progress frames before it; TimeoutError when the clock
    runs out, WorkerUnavailable when the worker says why it cannot start."""
    while True:
        msg = await asyncio.wait_for(read_message(reader), clock.left())
        if isinstance(msg, Progress):
            clock.heard(msg)
        elif isinstance(msg, ErrorReply):
            raise WorkerUnavailable(msg.message)
        elif isinstance(msg, Ready):
            return msg
        else:
            raise WorkerUnavailable(f"worker sent {type(msg).__name__} before ready")


async def _hello(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, token: str | None, progress: ProgressFn | None = None
) -> Link:
    writer.write(encode_frame(Hello(token=token or "")))
    await writer.drain()
    return Link(reader, writer, await read_ready(reader, StartClock(HELLO_READY_S, progress)))


class ChildWorker:
    shares = False
    model_name = ""

    def __init__(self, command: Sequence[str]) -> None:
        self.command = list(command)
        self.key: tuple[object, ...] = ("child", *self.command)
        self.proc: asyncio.subprocess.Process | None = None

    async def connect(self, timeout: float, progress: ProgressFn | None = None) -> Link:
        # `python -m` puts the working directory first on sys.path, and the editor starts the server in the
        # user's project, whose typing.py or model/ would shadow the worker's own imports. PYTHONSAFEPATH
        # (Python 3.11+, as -P) leaves it out, and the cwd stays the user's, so a relative --model still resolves.
        proc = await asyncio.create_subprocess_exec(
            *self.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=STREAM_LIMIT,
            env={**os.environ, "PYTHONSAFEPATH": "1"},
        )
        self.proc = proc
        assert proc.stdout is not None and proc.stdin is not None
        clock = StartClock(timeout, progress)
        try:
            ready = await read_ready(proc.stdout, clock)
        except (TimeoutError, asyncio.IncompleteReadError, WorkerUnavailable, ValueError, ProtocolError) as exc:
            if proc.returncode is None:
                proc.kill()
            why = f"not ready after {clock.waited():.0f}s" if isinstance(exc, TimeoutError) else str(exc)
            raise WorkerUnavailable(f"worker did not start: {why}") from exc
        return Link(proc.stdout, proc.stdin, ready)

    async def stop(self, link: Link) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        try:
            link.writer.write(encode_frame({"type": "shutdown"}))
            await link.writer.drain()
            link.writer.close()
            await asyncio.wait_for(proc.wait(), 5)
        except (TimeoutError, BrokenPipeError, ConnectionResetError):
            proc.kill()
            await proc.wait()


class RemoteWorker:
    shares = True
    model_name = ""

    def __init__(self, address: Address, token: str | None) -> None:
        self.address = address
        self.token = token
        self.key: tuple[object, ...] = ("remote", str(address))

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.address.scheme == "unix":
            check_own_socket(Path(self.address.path))
            return await asyncio.open_unix_connection(self.address.path, limit=STREAM_LIMIT)
        return await asyncio.open_connection(self.address.host, self.address.port, limit=STREAM_LIMIT)

    async def connect(self, timeout: float, progress: ProgressFn | None = None) -> Link:
        try:
            reader, writer = await asyncio.wait_for(self.open(), timeout)
            return await _hello(reader, writer, self.token, progress)
        except VersionMismatch as exc:
            raise WorkerUnavailable(f"the worker at {self.address}: {exc}") from exc
        except (OSError, TimeoutError, asyncio.IncompleteReadError, EndpointError, ValueError, ProtocolError) as exc:
            raise WorkerUnavailable(f"cannot reach the worker at {self.address}: {exc!r}") from exc

    async def stop(self, link: Link) -> None:
        link.writer.close()


class DaemonProgress:
    """A loading daemon's progress file (model/serve/daemon.py `ProgressFile`), read when it changes.
    One left by a daemon that died loading is old: not reported."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int, int] | None = None

    def poll(self) -> Progress | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)  # each report is a new file (renamed into place)
        if stamp == self._stamp or time.time() - st.st_mtime > PROGRESS_STALL_S:
            return None
        self._stamp = stamp
        try:
            msg = from_wire(decode_body(self.path.read_bytes()[HEADER_SIZE:]))
        except (OSError, ProtocolError):  # replaced as we read, or of another version
            return None
        return msg if isinstance(msg, Progress) else None


class SharedDaemon(RemoteWorker):
    def __init__(self, model: str | None, device: str, threads: int = 0, idle_timeout_s: float = 600) -> None:
        super().__init__(Address("unix"), None)
        self.model, self.device, self.threads, self.idle_timeout_s = model, device, threads, idle_timeout_s
        self.key = ("shared", worker_key(model, device))
        self.spawned: subprocess.Popen[bytes] | None = None

    @property
    def sock(self) -> Path:
        # Found when needed, not when settings arrive: the folder is made (and checked) here.
        return socket_path(self.model, self.device)

    async def connect(self, timeout: float, progress: ProgressFn | None = None) -> Link:
        """Connect to the daemon, starting it if nobody listens; retry until it is up or the start's
        clock runs out (a daemon still loading reports progress through its progress file)."""
        try:
            self.address = Address("unix", path=str(self.sock))
        except (EndpointError, OSError) as exc:
            raise WorkerUnavailable(str(exc)) from exc
        loop = asyncio.get_running_loop()
        clock = StartClock(timeout, progress)
        loading = DaemonProgress(progress_path(self.sock))
        last: BaseException | None = None
        spawned_at = -1.0
        self.spawned = None  # one started for an earlier connection is no concern of this one
        while True:
            try:
                reader, writer = await self.open()
                try:
                    return await _hello(reader, writer, None, progress)
                except BaseException:
                    writer.close()
                    raise
            except (FileNotFoundError, ConnectionRefusedError) as exc:  # nobody listens yet
                last = exc
            except (ConnectionResetError, asyncio.IncompleteReadError, BrokenPipeError) as exc:
                last = exc  # a daemon that was exiting as we came; the next one will answer
            except (EndpointError, WorkerUnavailable, TimeoutError, ValueError, ProtocolError) as exc:
                raise WorkerUnavailable(f"worker at {self.sock}: {exc}") from exc
            code: int | None = self.spawned.returncode if self.spawned is not None else None
            if code not in (None, 0, ALREADY_RUNNING):
                raise WorkerUnavailable(f"worker exited with status {code}: {self._log_tail()}")
            # Start one if we have none starting (or ours stood down for another that then vanished).
            if self.spawned is None or (code is not None and loop.time() - spawned_at > 1.0):
                self.spawned, spawned_at = self._spawn(), loop.time()
            report = loading.poll()
            if report is not None:
                clock.heard(report)
            if clock.left() <= 0:
                raise WorkerUnavailable(f"no worker answered at {self.sock} in {clock.waited():.0f}s ({last!r})")
            await asyncio.sleep(0.05)

    def _spawn(self) -> subprocess.Popen[bytes]:
        cmd = worker_command(
            model=self.model,
            device=self.device,
            threads=self.threads,
            listen=(f"unix://{self.sock}",),
            idle_timeout=self.idle_timeout_s,
        )
        log_fd = os.open(log_path(self.sock), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            # A session of its own: the editor's terminal hanging up must not take the daemon along.
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=log_fd,
                cwd=REPO_ROOT,
                start_new_session=True,
            )
        finally:
            os.close(log_fd)
        threading.Thread(target=proc.wait, daemon=True, name="fillgap-reap").start()  # no zombie when it exits
        return proc

    def _log_tail(self) -> str:
        try:
            lines = log_path(self.sock).read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(lines[-3:])


def connector_for(
    model: str | None,
    device: str,
    threads: int,
    mode: str = "shared",
    address: str | None = None,
    token_file: str | None = None,
    idle_timeout_s: float = 600,
    cluster_model: str = "",
) -> Connector:
    """The connector the settings ask for: an `address` means a remote worker, whatever the mode
    (an http(s):// one, a cluster, asked for `cluster_model`)."""
    if address and address.startswith(("http://", "https://")):
        from lsp.worker.cluster import ServeCluster  # httpx only for those who use a cluster

        return ServeCluster(address, read_token(token_file), cluster_model)
    if address:
        return RemoteWorker(parse_address(address), read_token(token_file))
    if mode == "private":
        return ChildWorker(worker_command(model=model, device=device, threads=threads))
    return SharedDaemon(model, device, threads, idle_timeout_s)
