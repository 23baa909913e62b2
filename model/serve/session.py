"""One client connection to a worker: frames in, fills to the batcher, replies out.

A frame that cannot be read as this protocol's (bad framing, not msgpack, another version, an
unknown type) is answered with an error frame and the connection is dropped: nothing after it can
be trusted to be in step. A known message with bad fields is answered and the connection kept.
When a connection ends, its fills are cancelled. Socket clients open with `hello` (carrying the
token over TCP); the server's own child (stdio) is greeted with `ready` straight away.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import IO

from model.serve.batcher import Batcher, Job
from model.serve.stats import gpu_mb, rss_mb
from model.wire.protocol import (
    Cancel,
    ErrorReply,
    FillRequest,
    Hello,
    InvalidRequest,
    ProtocolError,
    Ready,
    Shutdown,
    StatusRequest,
    WorkerStatus,
    decode_body,
    encode_frame,
    from_wire,
    read_body,
)

log = logging.getLogger("fillgap.worker")


@dataclass
class Worker:
    """What every connection shares: the batch, the model's description, the counters."""

    batcher: Batcher
    ready: Ready
    started: float = field(default_factory=time.monotonic)
    connections: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    _count_lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, delta: int) -> None:
        with self._count_lock:
            self.connections += delta

    def status(self, req_id: int) -> WorkerStatus:
        b, loop = self.batcher, self.batcher.loop
        return WorkerStatus(
            id=req_id,
            model=self.ready.model,
            device=self.ready.device,
            backend=self.ready.backend,
            pid=os.getpid(),
            uptime_s=round(time.monotonic() - self.started, 1),
            connections=self.connections,
            queued=b.queued,
            running=b.running,
            served=b.stats.served,
            cancelled=b.stats.cancelled,
            failed=b.stats.failed,
            p50_ms=round(b.stats.percentile(50), 1),
            p95_ms=round(b.stats.percentile(95), 1),
            rss_mb=round(rss_mb(), 1),
            gpu_mb=round(gpu_mb(self.ready.device), 1),
            forward_passes=loop.forward_passes,
            mean_batch_rows=round(loop.rows_run / max(loop.forward_passes, 1), 2),
            rows=loop.rows_run,
            oom_splits=loop.oom_splits,
            family=self.ready.family,
            canvas_tokens=self.ready.canvas_tokens,
            experts=self.ready.experts,
            experts_active=self.ready.experts_active,
            dtype=self.ready.dtype,
        )


class Session:
    def __init__(
        self,
        worker: Worker,
        stream: IO[bytes],
        write: Callable[[bytes], object],
        peer: str,
        token: str | None = None,
        greet: bool = False,
        on_hello: Callable[[], None] = lambda: None,
    ) -> None:
        """`greet`: send ready at once (a child on stdio) instead of waiting for hello.
        `token`: hello must carry it (TCP). `on_hello`: called once the client is let in."""
        self.worker = worker
        self.stream = stream
        self._write = write
        self.peer = peer
        self.token = token
        self.greet = greet
        self.on_hello = on_hello
        self._send_lock = threading.Lock()
        self.open = True

    def send(self, msg: object) -> None:
        """Thread-safe; fills answer from their own threads. A closed peer just stops listening."""
        frame = encode_frame(msg)
        with self._send_lock:
            if not self.open:
                return
            try:
                self._write(frame)
            except (OSError, ValueError):
                self.open = False

    def run(self) -> str:
        """Serve until the peer leaves ("eof"), breaks the protocol ("dropped") or asks for "shutdown"."""
        self.worker.count(+1)
        try:
            if self.greet:
                self.send(replace(self.worker.ready, pid=os.getpid()))
            elif not self._handshake():
                return "dropped"
            return self._serve()
        except (OSError, ValueError) as exc:  # reset, timed out, or closed under us
            log.info("connection %s ended: %r", self.peer, exc)
            return "eof"
        finally:
            self.worker.count(-1)
            self.worker.batcher.drop_owner(self)

    def _handshake(self) -> bool:
        try:
            body = read_body(self.stream)
            if body is None:
                return False
            msg = from_wire(decode_body(body))
        except ProtocolError as exc:
            return self._drop(str(exc))
        if not isinstance(msg, Hello):
            return self._drop("the first frame must be hello")
        if self.token is not None and not hmac.compare_digest(msg.token.encode(), self.token.encode()):
            log.warning("connection %s refused: wrong or missing token", self.peer)
            return self._drop("unauthorized")
        self.on_hello()
        self.send(replace(self.worker.ready, pid=os.getpid()))
        return True

    def _drop(self, why: str) -> bool:
        self.send(ErrorReply(id=None, message=why))
        log.info("connection %s dropped: %s", self.peer, why)
        return False

    def _serve(self) -> str:
        while True:
            raw: object = None
            try:
                body = read_body(self.stream)
                if body is None:
                    return "eof"
                raw = decode_body(body)
                msg = from_wire(raw)
            except InvalidRequest as exc:
                req_id = raw.get("id") if isinstance(raw, dict) else None
                self.send(ErrorReply(id=req_id if isinstance(req_id, int) else None, message=str(exc)))
                continue
            except ProtocolError as exc:
                self._drop(str(exc))
                return "dropped"
            if self._dispatch(msg):
                return "shutdown"

    def _dispatch(self, msg: object) -> bool:
        """Act on one message; True for shutdown."""
        if isinstance(msg, FillRequest):
            self.worker.batcher.submit(Job(msg, self.send, owner=self))
        elif isinstance(msg, Cancel):
            self.worker.batcher.cancel(self, msg.id)
        elif isinstance(msg, StatusRequest):
            self.send(self.worker.status(msg.id))
        elif isinstance(msg, Shutdown):
            log.info("shutdown asked by %s", self.peer)
            self.worker.stop.set()
            return True
        else:
            self.send(ErrorReply(id=None, message=f"a worker does not accept {type(msg).__name__}"))
        return False
