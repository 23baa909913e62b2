"""The cluster's front door: the one Serve deployment its HTTP proxy routes to. It checks each
request's token, reads the frame, routes a fill to the deployment of the model it names, retries a
fill once when the replica serving it dies, and answers status from Serve and the status board.

Nothing else of the cluster is meant to be reachable from editors: Ray's own ports run code for
whoever reaches them (README, "A team's GPUs").
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from dataclasses import replace
from typing import Any

import ray
from ray import serve
from ray.serve.exceptions import ReplicaUnavailableError
from starlette.requests import Request
from starlette.responses import Response

from model.wire import http
from model.wire.protocol import (
    ClusterStatus,
    ErrorReply,
    FillRequest,
    Hello,
    ModelStatus,
    ProtocolError,
    StatusRequest,
    VersionMismatch,
    WorkerStatus,
    decode_frame,
    encode_frame,
    from_wire,
)

log = logging.getLogger("fillgap.cluster")

SILENT_S = 10.0  # a replica that sends no heartbeat for this long is taken for hung


ACCEPT_S = 3.0  # a retry's replica beats at once when it takes the fill
RETRY_PICKS = 5


class ReplicaHung(RuntimeError):
    pass


class NotTaken(ReplicaHung):
    """The replica the router picked did not take the fill (it never started there)."""


# A replica that died (killed, out of memory, its node gone) or hung under a fill.
REPLICA_GONE = (ray.exceptions.RayActorError, ReplicaUnavailableError, ReplicaHung)
APP = "fillgap"


def token_digest(token: str) -> str:
    """What the gateway keeps of the token: it never holds the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


def _answer(msg: object, status: int = 200) -> Response:
    return Response(encode_frame(msg), status_code=status, media_type=http.CONTENT_TYPE)


class Gateway:
    def __init__(self, models: dict[str, Any], token_sha256: str, board: Any) -> None:
        """`models`: the handles of the model deployments by name, the first the default."""
        self.models = models
        self.default = next(iter(models))
        self.token_sha256 = token_sha256
        self.board = board

    async def __call__(self, request: Request) -> Response:
        given = http.token_of(request.headers.get(http.AUTHORIZATION))
        if not hmac.compare_digest(token_digest(given), self.token_sha256):
            log.warning("refused a request from %s: wrong or missing token", request.client)
            return _answer(ErrorReply(id=None, message="unauthorized"), 401)
        raw: object = None
        try:
            raw = decode_frame(await request.body())
            msg = from_wire(raw)
        except VersionMismatch as exc:
            return _answer(ErrorReply(id=None, message=str(exc)), 409)
        except ProtocolError as exc:  # answered under the request's id when it has one
            req_id = raw.get("id") if isinstance(raw, dict) else None
            return _answer(ErrorReply(id=req_id if isinstance(req_id, int) else None, message=str(exc)), 400)
        path = request.url.path.rstrip("/")
        if path.endswith(http.FILL) and isinstance(msg, FillRequest):
            return await self._fill(msg)
        if path.endswith(http.HELLO) and isinstance(msg, Hello):
            return await self._hello(msg)
        if path.endswith(http.STATUS) and isinstance(msg, StatusRequest):
            return _answer(await self._status(msg.id))
        return _answer(ErrorReply(id=getattr(msg, "id", None), message=f"no {type(msg).__name__} at {path}"), 404)

    def _route(self, name: str) -> Any:
        handle = self.models.get(name or self.default)
        if handle is None:
            raise LookupError(f"this cluster serves {', '.join(self.models)}; not {name!r}")
        return handle

    async def _hello(self, msg: Hello) -> Response:
        try:
            return Response(await self._route(msg.model).ready.remote(), media_type=http.CONTENT_TYPE)
        except LookupError as exc:
            return _answer(ErrorReply(id=None, message=str(exc)), 404)

    async def _fill(self, req: FillRequest) -> Response:
        try:
            handle = self._route(req.model)
        except LookupError as exc:
            return _answer(ErrorReply(id=req.id, message=str(exc)), 404)
        received = time.monotonic()
        try:
            return Response(await self._attempt(handle, req), media_type=http.CONTENT_TYPE)
        except REPLICA_GONE as exc:
            log.warning("fill %d: its replica is gone or hung (%s); trying once more", req.id, exc)
        spent_ms = int((time.monotonic() - received) * 1000)
        if req.deadline_ms and spent_ms >= req.deadline_ms:
            return _answer(ErrorReply(id=req.id, message="deadline exceeded"))
        again = replace(req, deadline_ms=max(req.deadline_ms - spent_ms, 1) if req.deadline_ms else 0)
        # Serve's router may pick the hung replica again (it still counts as running): a pick that
        # does not take the fill within ACCEPT_S never started it, so pick again; once one has, the
        # fill runs there or fails.
        for _ in range(RETRY_PICKS):
            try:
                return Response(await self._attempt(handle, again, ACCEPT_S), media_type=http.CONTENT_TYPE)
            except NotTaken:
                continue
            except REPLICA_GONE as exc:
                return _answer(ErrorReply(id=req.id, message=f"two replicas failed under this fill: {exc}"), 503)
        return _answer(ErrorReply(id=req.id, message=f"no replica took the retry in {RETRY_PICKS} picks"), 503)

    async def _attempt(self, handle: Any, req: FillRequest, accept_s: float = SILENT_S) -> bytes:
        """The answer frame of one replica, which beats (model/cluster/replica.py) once it takes the
        fill, within `accept_s` (NotTaken otherwise), then at least every SILENT_S; ReplicaHung when
        it goes quiet. The call is cancelled either way, freeing its place."""
        stream = handle.options(stream=True).fill.remote(encode_frame(req))
        wait_s, taken = accept_s, False
        try:
            while True:
                try:
                    chunk = await asyncio.wait_for(stream.__anext__(), wait_s)
                except TimeoutError:
                    raise (ReplicaHung(f"no heartbeat in {wait_s:.0f}s") if taken else NotTaken()) from None
                except StopAsyncIteration:
                    raise ReplicaHung("the replica ended the fill without an answer") from None
                if chunk:
                    return bytes(chunk)
                wait_s, taken = SILENT_S, True
        finally:
            stream.cancel()

    async def _status(self, req_id: int) -> ClusterStatus:
        rows = await self.board.rows.remote()
        deployments = serve.status().applications[APP].deployments
        models = []
        for name in self.models:
            overview = deployments.get(name)
            states = dict(overview.replica_states) if overview is not None else {}
            models.append(
                ModelStatus(
                    name=name,
                    state=str(overview.status.value) if overview is not None else "MISSING",
                    target=sum(n for state, n in states.items() if state != "STOPPING"),
                    running=states.get("RUNNING", 0),
                    replicas=[WorkerStatus(**r) for r in rows if r.get("deployment") == name],
                )
            )
        return ClusterStatus(id=req_id, models=models)
