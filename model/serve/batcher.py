"""Fills from every connection, admitted into the shared batch and answered.

A fill waits in a queue until the batch has room (`max_rows` rows: one per length budget), then
runs the ordinary engine (any `model.engine.Engine`) on a thread of its own, handed the `StepLoop`
as the place its forward passes run (one padded pass per step for every running fill; the loop
is built on the engine's own `shared_pass`). A cancelled fill leaves the queue at once or
the batch at its next step; so does one past its deadline, or every fill of a dropped connection.
Each fill keeps its own step budget (its sampler settings): a short one finishes and leaves while
longer ones go on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from model.engine import Engine, Stopped
from model.serve.stats import Stats
from model.serve.steploop import StepLoop, is_out_of_memory
from model.wire.protocol import ErrorReply, FillRequest, FillResult

log = logging.getLogger("fillgap.worker")

Reply = Callable[[FillResult | ErrorReply], None]


@dataclass(eq=False)
class Job:
    req: FillRequest
    reply: Reply
    owner: object  # the connection it came on: dropping that cancels it
    received: float = field(default_factory=time.monotonic)
    cancelled: bool = False

    @property
    def rows(self) -> int:
        return 1 if self.req.draft is not None else len(self.req.budgets)

    def late(self) -> bool:
        ms = self.req.deadline_ms
        return ms > 0 and (time.monotonic() - self.received) * 1000 > ms

    def should_stop(self) -> bool:
        return self.cancelled or self.late()


class Batcher:
    def __init__(self, engine: Engine, max_rows: int = 64, gather_s: float = 0.01) -> None:
        self.engine = engine
        self.max_rows = max_rows
        shared = engine.shared_pass()
        self.loop = StepLoop(shared.forward, shared.pad_id, max_rows, gather_s)
        self.stats = Stats()
        self._lock = threading.Lock()
        self._queue: deque[Job] = deque()
        self._running: set[Job] = set()
        self._idle = threading.Condition(self._lock)

    def submit(self, job: Job) -> None:
        with self._lock:
            self._queue.append(job)
            self._admit()

    def cancel(self, owner: object, req_id: int) -> None:
        """Cancel `owner`'s fill `req_id`: out of the queue now, out of the batch at its next step."""
        self._cancel_where(lambda j: j.owner is owner and j.req.id == req_id)

    def drop_owner(self, owner: object) -> None:
        """A connection closed: nobody waits for its fills any more."""
        self._cancel_where(lambda j: j.owner is owner)

    def _cancel_where(self, match: Callable[[Job], bool]) -> None:
        with self._lock:
            dropped = [j for j in self._queue if match(j)]
            for job in dropped:
                self._queue.remove(job)
            for job in self._running:
                if match(job):
                    job.cancelled = True
            self._idle.notify_all()
        for job in dropped:
            self.stats.cancelled += 1
            job.reply(ErrorReply(id=job.req.id, message="cancelled"))

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def running(self) -> int:
        return len(self._running)

    def busy(self) -> bool:
        with self._lock:
            return bool(self._queue or self._running)

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: not self._queue and not self._running, timeout)

    def _admit(self) -> None:
        """Start queued fills while the batch has room (the first always starts). Caller holds the lock."""
        rows = sum(j.rows for j in self._running)
        while self._queue:
            job = self._queue[0]
            if self._running and rows + job.rows > self.max_rows:
                break
            self._queue.popleft()
            if job.should_stop():  # cancelled or late before it started: it never takes a place
                self._finish_unstarted(job)
                continue
            self._running.add(job)
            rows += job.rows
            threading.Thread(target=self._run, args=(job,), daemon=True, name=f"fillgap-fill-{job.req.id}").start()

    def _finish_unstarted(self, job: Job) -> None:
        # Answered from the admitting thread; replies only take a connection's write lock.
        self.stats.cancelled += 1
        message = "cancelled" if job.cancelled else "deadline exceeded"
        threading.Thread(target=job.reply, args=(ErrorReply(id=job.req.id, message=message),), daemon=True).start()

    def _run(self, job: Job) -> None:
        self.loop.join(job)
        try:
            answer = self._fill(job)
        finally:
            self.loop.leave(job)
            with self._lock:
                self._running.discard(job)
                self._admit()
                self._idle.notify_all()
        job.reply(answer)

    def _fill(self, job: Job) -> FillResult | ErrorReply:
        req = job.req
        try:
            result = self.engine.fill(req, stop=job.should_stop, passes=self.loop)
        except Stopped:
            self.stats.cancelled += 1
            return ErrorReply(id=req.id, message="cancelled" if job.cancelled else "deadline exceeded")
        except Exception as exc:  # one failed fill must not take the worker down
            self.stats.failed += 1
            if is_out_of_memory(exc):
                log.warning("fill %s: out of memory even alone", req.id)
                return ErrorReply(id=req.id, message="out of memory")
            log.exception("fill %s failed", req.id)
            return ErrorReply(id=req.id, message=f"fill failed: {exc}")
        self.stats.served_one((time.monotonic() - job.received) * 1000)
        return result
