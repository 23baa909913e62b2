"""The server's side of the worker process: start it on first need, send fills, match replies.

The worker is a child process speaking `model.protocol` frames on its stdin/stdout. If it dies,
every pending request fails at once with `WorkerUnavailable` (the caller answers the editor with
an empty result), and the next request starts a new worker.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sys
from collections.abc import Sequence

from model.protocol import (
    HEADER_SIZE,
    ErrorReply,
    FillRequest,
    FillResult,
    ProtocolError,
    Ready,
    SamplerSettings,
    decode_body,
    encode_frame,
    frame_length,
    from_wire,
)

log = logging.getLogger("fillgap.worker_client")


class WorkerUnavailable(RuntimeError):
    pass


def worker_command(model: str | None, device: str = "cpu", threads: int = 0) -> list[str]:
    cmd = [sys.executable, "-m", "model.worker", "--device", device]
    if model:
        cmd += ["--model", model]
    if threads:
        cmd += ["--threads", str(threads)]
    return cmd


class WorkerClient:
    def __init__(self, command: Sequence[str], start_timeout: float = 120.0) -> None:
        self.command = list(command)
        self.start_timeout = start_timeout
        self.ready: Ready | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[FillResult]] = {}
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self._closing = False

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None and self.ready is not None

    async def ensure_started(self) -> Ready:
        async with self._lock:
            if self.running and self.ready is not None:
                return self.ready
            return await self._start()

    async def _start(self) -> Ready:
        log.info("starting worker: %s", " ".join(self.command))
        proc = await asyncio.create_subprocess_exec(
            *self.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=2**26
        )
        self._proc = proc
        try:
            first = await asyncio.wait_for(self._read_message(proc), self.start_timeout)
        except (TimeoutError, asyncio.IncompleteReadError, ProtocolError) as exc:
            proc.kill()
            raise WorkerUnavailable(f"worker did not start: {exc!r}") from exc
        if isinstance(first, ErrorReply):
            raise WorkerUnavailable(first.message)
        if not isinstance(first, Ready):
            proc.kill()
            raise WorkerUnavailable(f"worker sent {type(first).__name__} before ready")
        self.ready = first
        self._reader = asyncio.create_task(self._read_loop(proc))
        log.info("worker ready: %s on %s (%d parameters)", first.model, first.device, first.parameters)
        return first

    @staticmethod
    async def _read_message(proc: asyncio.subprocess.Process) -> object:
        assert proc.stdout is not None
        head = await proc.stdout.readexactly(HEADER_SIZE)
        body = await proc.stdout.readexactly(frame_length(head))
        return from_wire(decode_body(body))

    async def _read_loop(self, proc: asyncio.subprocess.Process) -> None:
        try:
            while True:
                msg = await self._read_message(proc)
                if isinstance(msg, FillResult | ErrorReply) and msg.id in self._pending:
                    fut = self._pending.pop(msg.id)  # type: ignore[arg-type]
                    if not fut.done():
                        if isinstance(msg, ErrorReply):
                            fut.set_exception(WorkerUnavailable(msg.message))
                        else:
                            fut.set_result(msg)
                elif isinstance(msg, ErrorReply) and msg.message != "cancelled":
                    log.warning("worker error: %s", msg.message)
        except (asyncio.IncompleteReadError, ProtocolError, ConnectionError) as exc:
            if not self._closing:
                log.warning("worker stream ended: %r", exc)
        finally:
            self.ready = None
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(WorkerUnavailable("worker exited"))
            self._pending.clear()

    async def fill(
        self,
        prefix: str,
        suffix: str,
        budgets: Sequence[int],
        sampler: SamplerSettings,
        draft: str | None = None,
        remask: Sequence[tuple[int, int]] = (),
        remask_below: float = 0.0,
    ) -> FillResult:
        """Candidates for the gap; with a draft, the draft with its `remask` character ranges rewritten."""
        await self.ensure_started()
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        req = FillRequest(
            id=next(self._ids),
            prefix=prefix,
            suffix=suffix,
            budgets=list(budgets),
            sampler=sampler,
            draft=draft,
            remask=[list(r) for r in remask],
            remask_below=remask_below,
        )
        fut: asyncio.Future[FillResult] = asyncio.get_running_loop().create_future()
        self._pending[req.id] = fut
        try:
            proc.stdin.write(encode_frame(req))
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            self._pending.pop(req.id, None)
            raise WorkerUnavailable("worker exited") from exc
        try:
            return await fut
        except asyncio.CancelledError:
            self._cancel(req.id)  # the worker drops it before it starts, or at its next step
            raise
        finally:
            self._pending.pop(req.id, None)

    def _cancel(self, req_id: int) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None or proc.stdin is None or proc.stdin.is_closing():
            return
        proc.stdin.write(encode_frame({"type": "cancel", "id": req_id}))

    async def close(self) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        self._closing = True
        try:
            assert proc.stdin is not None
            proc.stdin.write(encode_frame({"type": "shutdown"}))
            await proc.stdin.drain()
            proc.stdin.close()
            await asyncio.wait_for(proc.wait(), 5)
        except (TimeoutError, BrokenPipeError, ConnectionResetError):
            proc.kill()
            await proc.wait()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
