"""The cluster connector's own logic, against a stand-in gateway (the real one, on Ray Serve, is
tests/cluster): a cluster nobody answers for fails at once with one clear message and backs off; a
refusal says what the gateway said; a link's frames are split back into the requests they are."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lsp.eval.client import inline, open_doc, running_server
from lsp.worker.client import WorkerClient, WorkerUnavailable
from lsp.worker.cluster import ServeCluster, split_frames
from model.cluster.local import free_port
from model.wire import http
from model.wire.protocol import ErrorReply, Hello, Ready, StatusRequest, decode_frame, encode_frame, from_wire


async def test_an_unreachable_cluster_fails_at_once_saying_where_then_backs_off() -> None:
    url = f"http://127.0.0.1:{free_port()}/fillgap"
    client = WorkerClient(ServeCluster(url, "t", "small"))
    with pytest.raises(WorkerUnavailable, match=f"cannot reach the cluster at {url}"):
        await client.ensure_started()
    with pytest.raises(WorkerUnavailable, match="cannot reach"):
        await client.ensure_started()  # the first retry is at once
    with pytest.raises(WorkerUnavailable, match="trying again in"):
        await client.ensure_started()  # then it waits, failing fast meanwhile


class _Gateway(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, object]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        msg = from_wire(decode_frame(self.rfile.read(int(self.headers["content-length"]))))
        self.seen.append((self.path, self.headers.get(http.AUTHORIZATION, ""), msg))
        if http.token_of(self.headers.get(http.AUTHORIZATION)) != "right":
            self._answer(401, ErrorReply(id=None, message="unauthorized"))
        else:
            self._answer(200, Ready(model="m", device="cpu", parameters=1, context_tokens=8))

    def _answer(self, code: int, msg: object) -> None:
        body = encode_frame(msg)
        self.send_response(code)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/fillgap"
    server.shutdown()


async def test_hello_names_the_model_and_carries_the_token(gateway: str) -> None:
    _Gateway.seen.clear()
    link = await ServeCluster(gateway, "right", "small").connect(5)
    assert link.ready.model == "m"
    path, auth, msg = _Gateway.seen[-1]
    assert path == "/fillgap" + http.HELLO and auth == "Bearer right"
    assert isinstance(msg, Hello) and msg.model == "small"
    link.writer.close()


async def test_a_refusal_says_what_the_gateway_said(gateway: str) -> None:
    with pytest.raises(WorkerUnavailable, match=f"the cluster at {gateway} refused: unauthorized"):
        await ServeCluster(gateway, "wrong").connect(5)


def test_one_write_of_several_frames_is_split_into_them() -> None:
    frames = [encode_frame(StatusRequest(id=i)) for i in range(3)]
    assert split_frames(b"".join(frames)) == frames


@pytest.mark.slow
async def test_a_server_pointed_at_a_dead_cluster_answers_empty_and_says_so_once() -> None:
    url = f"http://127.0.0.1:{free_port()}/fillgap"
    settings = {"worker": {"address": url, "model": "small"}}
    async with running_server(settings) as server:
        open_doc(server, "file:///tmp/dead.py", "def f(x):\n    pass\n")
        assert await inline(server, "file:///tmp/dead.py", 1, 4) == []
        assert await inline(server, "file:///tmp/dead.py", 1, 4) == []
        told = [m for m in server.messages if "cannot reach the cluster" in m and url in m]
        assert len(told) == 1, server.messages
