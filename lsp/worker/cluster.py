"""A fillgap cluster (Ray Serve, `fillgap cluster up`) as a worker: HTTP to its gateway.

`ServeCluster` opens a `Link` like the other connectors, so `WorkerClient` is unchanged: frames the
client writes become HTTP requests (`model/wire/http.py`), one per fill, and each answer frame is
fed to the link's reader. Cancelling a fill closes its request's stream, which is how Serve learns
to cancel the replica's work. A fill names the model the settings chose (`worker.model`). A cluster
that cannot be reached breaks the link: what waits on it fails at once, and the client reconnects
with its backoff. The token goes in each request's Authorization header; an `https://` address
verifies the proxy's certificate (a private CA: `SSL_CERT_FILE`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import replace

import httpx

from lsp.worker.connectors import Link, ProgressFn, WorkerUnavailable
from model.wire import http
from model.wire.protocol import (
    HEADER_SIZE,
    Cancel,
    ClusterStatus,
    ErrorReply,
    FillRequest,
    Hello,
    ProtocolError,
    Ready,
    StatusRequest,
    VersionMismatch,
    decode_frame,
    encode_frame,
    frame_length,
    from_wire,
)

CONNECT_TIMEOUT_S = 10.0  # reaching the proxy; a fill itself is timed by the client's deadline


def split_frames(data: bytes) -> list[bytes]:
    """The whole frames in `data`, which holds nothing else (one write of the client)."""
    frames, at = [], 0
    while at < len(data):
        end = at + HEADER_SIZE + frame_length(data[at : at + HEADER_SIZE])
        frames.append(data[at:end])
        at = end
    return frames


class ClusterWriter:
    """The link's writing side: each frame written is sent as the request it stands for."""

    def __init__(self, client: httpx.AsyncClient, url: str, reader: asyncio.StreamReader) -> None:
        self.client = client
        self.url = url
        self.reader = reader
        self._fills: dict[int, asyncio.Task[None]] = {}
        self._requests: set[asyncio.Task[None]] = set()
        self._closed = False

    def write(self, data: bytes) -> None:
        for frame in split_frames(data):
            self._send(from_wire(decode_frame(frame)))

    def _send(self, msg: object) -> None:
        if self._closed:
            return
        if isinstance(msg, FillRequest):
            self._fills[msg.id] = self._start(self._post(http.FILL, msg))
        elif isinstance(msg, StatusRequest):
            self._start(self._post(http.STATUS, msg))
        elif isinstance(msg, Cancel):
            task = self._fills.pop(msg.id, None)
            if task is not None:
                task.cancel()  # closes the request's stream: Serve cancels the replica's work
        # anything else (shutdown) is not an editor's to ask of a shared cluster

    def _start(self, request: Coroutine[None, None, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(request)
        self._requests.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._requests.discard)
        return task

    async def _post(self, path: str, msg: FillRequest | StatusRequest) -> None:
        try:
            async with self.client.stream("POST", self.url + path, content=encode_frame(msg)) as response:
                frame = await response.aread()
                answer = from_wire(decode_frame(frame))
        except asyncio.CancelledError:
            raise
        except VersionMismatch as exc:
            self._break(ConnectionError(f"the cluster at {self.url}: {exc}"))
            return
        except (httpx.HTTPError, ProtocolError, ValueError) as exc:
            self._break(ConnectionError(f"cannot reach the cluster at {self.url}: {exc!r}"))
            return
        finally:
            if isinstance(msg, FillRequest):
                self._fills.pop(msg.id, None)
        if isinstance(answer, ErrorReply) and answer.id is None:  # refused before the gateway read its id
            frame = encode_frame(replace(answer, id=msg.id))  # still this request's answer
        if not self._closed:
            self.reader.feed_data(frame)

    def _break(self, exc: Exception) -> None:
        if not self._closed:
            self.reader.set_exception(exc)
            self.close()

    async def drain(self) -> None:
        return None

    def is_closing(self) -> bool:
        return self._closed

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in self._requests:
            task.cancel()
        self._fills.clear()
        if self.reader.exception() is None:
            self.reader.feed_eof()
        asyncio.get_running_loop().create_task(self.client.aclose())


def cluster_status(url: str, token: str | None, timeout: float = 10.0) -> ClusterStatus:
    """A cluster's status, asked without an event loop (`fillgap status --address http://...`);
    ConnectionError saying why when it cannot be had."""
    headers = {"content-type": http.CONTENT_TYPE, **http.bearer(token)}
    try:
        answer = httpx.post(url.rstrip("/") + http.STATUS, content=encode_frame(StatusRequest()), headers=headers,
                            timeout=timeout)  # fmt: skip
        msg = from_wire(decode_frame(answer.content))
    except (httpx.HTTPError, ProtocolError) as exc:
        raise ConnectionError(f"cannot reach the cluster at {url}: {exc}") from exc
    if isinstance(msg, ErrorReply):
        raise ConnectionError(f"the cluster at {url} refused: {msg.message}")
    if not isinstance(msg, ClusterStatus):
        raise ConnectionError(f"the cluster at {url} answered status with {type(msg).__name__}")
    return msg


class ServeCluster:
    shares = True

    def __init__(self, url: str, token: str | None, model: str = "") -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.model_name = model
        self.key: tuple[object, ...] = ("cluster", self.url, model)

    def _client(self) -> httpx.AsyncClient:
        headers = {"content-type": http.CONTENT_TYPE, **http.bearer(self.token)}
        return httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(None, connect=CONNECT_TIMEOUT_S))

    async def connect(self, timeout: float, progress: ProgressFn | None = None) -> Link:
        client = self._client()
        try:
            response = await asyncio.wait_for(
                client.post(self.url + http.HELLO, content=encode_frame(Hello(model=self.model_name))), timeout
            )
            ready = from_wire(decode_frame(response.content))
        except VersionMismatch as exc:
            await client.aclose()
            raise WorkerUnavailable(f"the cluster at {self.url}: {exc}") from exc
        except (httpx.HTTPError, TimeoutError, ProtocolError, ValueError) as exc:
            await client.aclose()
            raise WorkerUnavailable(f"cannot reach the cluster at {self.url}: {exc!r}") from exc
        if not isinstance(ready, Ready):
            await client.aclose()
            said = ready.message if isinstance(ready, ErrorReply) else type(ready).__name__
            raise WorkerUnavailable(f"the cluster at {self.url} refused: {said}")
        reader = asyncio.StreamReader()
        return Link(reader, ClusterWriter(client, self.url, reader), ready)

    async def stop(self, link: Link) -> None:
        link.writer.close()
