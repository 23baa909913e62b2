"""The server's side of the worker: connect on first need, send fills, match replies.

Which worker (private child, shared daemon, remote) is the connector's business
(`lsp/worker/connectors.py`). If the worker dies or the connection drops, every pending request fails
at once with `WorkerUnavailable` (the caller answers the editor with an empty result), and a later
request connects again, starting a new worker if needed. Repeated failures back off: the first
reconnect is immediate, then 0.5 s, 1 s, 2 s, ... up to 30 s; in that window requests fail at once
rather than wait, so the editor never hangs on a broken worker.

A fill carries a deadline the worker keeps (it answers "deadline exceeded"): `deadline_ms`, by
default `WorkerSettings.deadline_ms` (the one default; the server sets its configured one). A worker that does
not even say that within HUNG_GRACE_S more (stopped, deadlocked, speaking out of step) is taken
for hung: the request fails, the connection is dropped (a private child is killed) and the next
request connects afresh.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Sequence

from lsp.worker.connectors import ChildWorker, Connector, Link, ProgressFn, WorkerUnavailable, read_message
from lsp.worker.settings import WorkerSettings
from model.wire.options import START_TIMEOUT_MIN_S
from model.wire.protocol import (
    Cancel,
    ClusterStatus,
    ErrorReply,
    FillRequest,
    FillResult,
    ProtocolError,
    Ready,
    SamplerSettings,
    StatusRequest,
    WorkerStatus,
    encode_frame,
)

__all__ = ["WorkerClient", "WorkerUnavailable"]

log = logging.getLogger("fillgap.worker_client")

BACKOFF_MAX_S = 30.0
HUNG_GRACE_S = 5.0  # past a fill's deadline, this long without any answer means the worker is hung


def backoff_s(failures: int) -> float:
    """Wait before reconnecting after `failures` failures in a row: none after the first."""
    return 0.0 if failures <= 1 else min(BACKOFF_MAX_S, 0.5 * 2 ** (failures - 2))


class WorkerClient:
    def __init__(
        self,
        target: Sequence[str] | Connector,
        start_timeout: float = START_TIMEOUT_MIN_S,
        deadline_ms: int = WorkerSettings.deadline_ms,
    ) -> None:
        """`target`: a connector, or a command line to run as a private child worker. A start may
        take `start_timeout` s (see `model.wire.options.start_timeout_s`), longer while the worker
        reports progress. A fill the worker has not finished `deadline_ms` after it got it is given
        up and its place freed."""
        self.connector: Connector = ChildWorker(target) if isinstance(target, Sequence) else target
        self.start_timeout = start_timeout
        self.deadline_ms = deadline_ms
        self.ready: Ready | None = None
        self._link: Link | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[object]] = {}
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self._closing = False
        self.failures = 0  # in a row; reset by a served fill
        self._retry_at = 0.0

    @property
    def key(self) -> tuple[object, ...]:
        return self.connector.key

    @property
    def running(self) -> bool:
        return self._link is not None and self.ready is not None

    async def ensure_started(self, progress: ProgressFn | None = None) -> Ready:
        """The worker's `ready`, connecting (and starting it) if needed; `progress` gets the load's
        progress reports of a start."""
        async with self._lock:
            if self.running and self.ready is not None:
                return self.ready
            loop = asyncio.get_running_loop()
            if loop.time() < self._retry_at:
                raise WorkerUnavailable(f"worker failed; trying again in {self._retry_at - loop.time():.1f}s")
            try:
                link = await self.connector.connect(self.start_timeout, progress)
            except WorkerUnavailable:
                self._failed()
                raise
            self._closing = False
            self._link, self.ready = link, link.ready
            self._reader = asyncio.create_task(self._read_loop(link))
            log.info("worker ready: %s on %s (pid %d)", link.ready.model, link.ready.device, link.ready.pid)
            return link.ready

    def _failed(self) -> None:
        self.failures += 1
        self._retry_at = asyncio.get_running_loop().time() + backoff_s(self.failures)

    async def _read_loop(self, link: Link) -> None:
        try:
            while True:
                msg = await read_message(link.reader)
                msg_id = getattr(msg, "id", None)
                fut = self._pending.pop(msg_id, None) if isinstance(msg_id, int) else None
                if fut is not None and not fut.done():
                    if isinstance(msg, ErrorReply):
                        fut.set_exception(WorkerUnavailable(msg.message))
                    else:
                        fut.set_result(msg)
                elif isinstance(msg, ErrorReply) and msg.message not in ("cancelled", "deadline exceeded"):
                    log.warning("worker error: %s", msg.message)
        except (asyncio.IncompleteReadError, ProtocolError, ConnectionError, OSError) as exc:
            if not self._closing:
                log.warning("worker connection ended: %r", exc)
                self._failed()
        finally:
            if self._link is link:  # not a newer connection's: a dropped hung one may end after it is made
                self._link, self.ready = None, None
            link.writer.close()
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(WorkerUnavailable("worker exited"))
            self._pending.clear()

    async def _ask(self, msg: FillRequest | StatusRequest) -> object:
        await self.ensure_started()
        link = self._link
        if link is None:
            raise WorkerUnavailable("worker exited")
        fut: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._pending[msg.id] = fut
        try:
            link.writer.write(encode_frame(msg))
            await link.writer.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            self._pending.pop(msg.id, None)
            raise WorkerUnavailable("worker exited") from exc
        limit = msg.deadline_ms / 1000 + HUNG_GRACE_S if isinstance(msg, FillRequest) and msg.deadline_ms else None
        try:
            return await asyncio.wait_for(fut, limit)
        except TimeoutError as exc:
            await self._drop_hung(link)
            raise WorkerUnavailable(f"worker did not answer in {limit:.0f}s") from exc
        except asyncio.CancelledError:
            if isinstance(msg, FillRequest):
                self._cancel(link, msg.id)  # the worker drops it before it starts, or at its next step
            raise
        finally:
            self._pending.pop(msg.id, None)

    async def fill(
        self,
        prefix: str,
        suffix: str,
        budgets: Sequence[int],
        sampler: SamplerSettings,
        draft: str | None = None,
        remask: Sequence[tuple[int, int]] = (),
        remask_below: float = 0.0,
        context: str = "",
        holes: Sequence[str] = (),
        between: Sequence[str] = (),
        profile: str = "full",
    ) -> FillResult:
        """Candidates for the gap; with a draft, the draft with its `remask` character ranges rewritten;
        with holes, for every hole (see FillRequest). `sampler` holds only what the user set; the
        worker fills in the rest from the checkpoint family's defaults (its typing profile's too,
        for profile "typing")."""
        req = FillRequest(
            id=next(self._ids),
            prefix=prefix,
            suffix=suffix,
            budgets=list(budgets),
            sampler=sampler,
            draft=draft,
            remask=[list(r) for r in remask],
            remask_below=remask_below,
            deadline_ms=self.deadline_ms,
            context=context,
            holes=list(holes),
            between=list(between),
            profile=profile,
            model=self.connector.model_name,
        )
        result = await self._ask(req)
        assert isinstance(result, FillResult)
        self.failures = 0
        return result

    async def status(self, timeout: float = 5.0) -> WorkerStatus | ClusterStatus:
        """The worker's own counters (queue, served, latency, memory), or a cluster's per model and
        replica; starts the worker if needed."""
        reply = await asyncio.wait_for(self._ask(StatusRequest(id=next(self._ids))), timeout)
        if not isinstance(reply, WorkerStatus | ClusterStatus):
            raise WorkerUnavailable(f"status answered with {type(reply).__name__}")
        return reply

    async def _drop_hung(self, link: Link) -> None:
        """Leave a worker that stopped answering; its reader ends (failing what waits on it) before a
        new connection can be made."""
        async with self._lock:
            if self._link is not link:
                return
            log.warning("worker (pid %d) did not answer past the deadline: dropping it", link.ready.pid)
            proc = getattr(self.connector, "proc", None)  # a private child: kill it, a stopped one too
            if proc is not None and proc.returncode is None:
                proc.kill()
            link.writer.close()
            reader = self._reader
            if reader is not None:
                await asyncio.wait([reader], timeout=5.0)
            if self._link is link:  # the reader did not end: forget the connection anyway
                self._link, self.ready = None, None
                self._failed()

    def _cancel(self, link: Link, req_id: int) -> None:
        if self._link is link and not link.writer.is_closing():
            link.writer.write(encode_frame(Cancel(id=req_id)))

    async def close(self) -> None:
        """Leave the worker: a private one is shut down, a shared one keeps serving others."""
        link = self._link
        if link is None:
            return
        self._closing = True
        await self.connector.stop(link)
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
