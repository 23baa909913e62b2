"""One replica of a model the cluster serves: the worker's engine and continuous batcher in a Ray
Serve replica, answering the gateway's fill, ready and status calls with protocol frames.

Ray Serve owns the process: it places the replica (`num_gpus` / `num_cpus`), calls
`check_health` and replaces a replica that fails it or dies, and cancels a call whose caller went
away (`asyncio.CancelledError` in `fill`), which cancels the fill: out of the queue at once, out
of the batch at its next step, as when a socket connection drops. Each replica reports its
counters to the status board every `REPORT_S` and its queue and latency to Serve's autoscaler
(`record_autoscaling_stats`, read by `model/cluster/scaling.py`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, replace
from typing import Any

import ray
from ray import serve

from model.serve.batcher import Job
from model.serve.worker import load, make_worker
from model.wire.options import WorkerOptions
from model.wire.protocol import ErrorReply, FillRequest, decode_frame, encode_frame, from_wire

log = logging.getLogger("fillgap.cluster")

REPORT_S = 1.0
HEARTBEAT_S = 1.0
HEARTBEAT = b""
STALL_LIMIT_S = 60.0  # one denoising step running this long is a hung replica: Serve replaces it


class FillReplica:
    """The body of each model's Serve deployment (model/cluster/app.py wraps it)."""

    def __init__(self, name: str, options: dict[str, Any], board: Any, stall_limit_s: float = STALL_LIMIT_S) -> None:
        logging.basicConfig(level=logging.INFO)
        ns = WorkerOptions(**options)
        engine, ready = load(ns)
        self.name = name
        self.stall_limit_s = stall_limit_s
        self.worker = make_worker(engine, replace(ready, pid=os.getpid()), ns.max_batch_rows)
        context = serve.get_replica_context()
        self.replica = context.replica_id.unique_id
        self.node = ray.get_runtime_context().get_node_id()[:12]
        self.host = ray.util.get_node_ip_address()
        self._board = board
        threading.Thread(target=self._report_loop, daemon=True, name="fillgap-report").start()

    async def fill(self, frame: bytes) -> AsyncIterator[bytes]:
        """A heartbeat (b"") at once, then every HEARTBEAT_S while the fill runs and its steps move, then its answer
        frame. A replica that stops beating is hung (stopped, deadlocked, stuck in one step): the
        gateway gives up on it and retries elsewhere. Cancelled by Serve when the caller goes away."""
        req = from_wire(decode_frame(frame))
        if not isinstance(req, FillRequest):
            yield encode_frame(ErrorReply(id=None, message="a replica takes only fills"))
            return
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[object] = loop.create_future()
        owner = object()

        def reply(msg: object) -> None:
            loop.call_soon_threadsafe(lambda: answer.done() or answer.set_result(msg))

        self.worker.batcher.submit(Job(req, reply, owner=owner))
        try:
            yield HEARTBEAT  # taken: the gateway now knows this replica is alive and has it
            while not answer.done():
                await asyncio.wait([answer], timeout=HEARTBEAT_S)
                if not answer.done() and self.worker.batcher.loop.stalled_s() <= self.stall_limit_s:
                    yield HEARTBEAT
            yield encode_frame(answer.result())
        finally:
            if not answer.done():  # cancelled (the caller left, or the gateway gave up on us)
                self.worker.batcher.drop_owner(owner)  # out at the next step

    def ready(self) -> bytes:
        return encode_frame(self.worker.ready)

    def status(self) -> dict[str, Any]:
        st = self.worker.status(0)
        where = f"{self.host} (node {self.node})"
        return asdict(replace(st, replica=self.replica, node=where, deployment=self.name))

    def check_health(self) -> None:
        """Serve calls this every health_check_period_s; raising (or not answering) replaces us."""
        stalled = self.worker.batcher.loop.stalled_s()
        if stalled > self.stall_limit_s:
            raise RuntimeError(f"one step has run for {stalled:.0f}s (limit {self.stall_limit_s:.0f}s): hung")

    def record_autoscaling_stats(self) -> dict[str, float]:
        return {"p95_ms": self.worker.batcher.stats.percentile(95)}  # what scaling.py reads

    def _report_loop(self) -> None:
        while True:
            try:
                ray.get(self._board.put.remote(self.name, self.replica, self.status()), timeout=10)
            except Exception as exc:  # the board restarting is no reason to stop serving
                log.warning("status report failed: %r", exc)
            time.sleep(REPORT_S)
