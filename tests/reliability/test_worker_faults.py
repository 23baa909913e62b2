"""Worker faults, injected into a real `fillgap serve` and a real worker: kill -9 in the middle of a
fill, a stopped (hung) worker, a worker speaking garbage, a model folder that is missing or holds a
truncated safetensors file. Each time: an empty answer (never an error, never a hang), a clear
window/showMessage, the server keeps serving, and it recovers when a worker is back.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from model.checkpoint import DEFAULT_CHECKPOINT
from model.wire.protocol import Ready, encode_frame
from tests.daemons import alive, daemon_pids
from tests.reliability.conftest import QUICK, SOAK, record
from tests.reliability.rpc import RawServer, children
from tests.waiting import until

pytestmark = [pytest.mark.slow]
SOAK_ONLY = pytest.mark.skipif(not SOAK, reason="the same path as the default mode; FILLGAP_SOAK=1 runs it")

URI = "file:///tmp/faults/area.py"
AREA = 'def area(w, h):\n    """Area of a rectangle."""\n    pass\n'
SLOW = {**QUICK, "sampler": {"steps": 24, "refine_rounds": 3}}  # a fill long enough to be killed in


def _edit(server: RawServer, version: int) -> None:
    """A new text (so no answer comes from the cache): the placeholder stays on line 2 + version."""
    server.change(URI, version, [{"text": f"# v{version}\n" * version + AREA}])


def _line(version: int) -> int:
    return 2 + version


def _worker_pid(server: RawServer, folder: Path) -> int:
    if daemon_pids(folder / "fillgap"):
        (pid,) = daemon_pids(folder / "fillgap")
        return pid
    (pid,) = children(server.proc.pid)
    return pid


def _eventually_filled(server: RawServer, version: int, timeout: float = 120.0) -> list[Any]:
    """Items for the placeholder, asking again (past the reconnect backoff) until a worker answers."""
    until = time.monotonic() + timeout
    while True:
        items = server.inline_items(URI, _line(version), 4)
        if items or time.monotonic() > until:
            return items
        version += 1  # a new text: an empty answer may have been cached
        _edit(server, version)
        time.sleep(0.5)


@pytest.mark.parametrize("mode", ["private", "shared"])
def test_a_worker_killed_in_the_middle_of_a_fill_costs_one_empty_answer(
    serve: Callable[..., RawServer], private_worker_sockets: Path, mode: str
) -> None:
    server = serve()
    server.initialize({**SLOW, "worker": {"mode": mode}})
    server.open(URI, AREA)
    assert _eventually_filled(server, 0), "the model offered nothing for a pass body"
    kills = mid_fill = 0
    version = 100
    while mid_fill < (2 if SOAK else 1) and kills < 6:
        version += 1
        _edit(server, version)
        victim = _worker_pid(server, private_worker_sockets)
        msg_id = server.request_raw("textDocument/inlineCompletion", {
            "textDocument": {"uri": URI}, "position": {"line": _line(version), "character": 4},
            "context": {"triggerKind": 1}})
        time.sleep(0.15)  # a probe, not a synchronisation: a kill that lands after the fill is retried
        in_flight = msg_id not in server.responses
        os.kill(victim, signal.SIGKILL)
        kills += 1
        response = server.wait(msg_id, timeout=60)
        assert "result" in response, response  # an answer, not an error
        # Mid-fill only if the answer is empty too: on a busy machine a fill can finish just before
        # the kill while its answer is still on its way to this process (not yet in `responses`).
        if in_flight and response["result"]["items"] == []:
            mid_fill += 1
        version += 1
        _edit(server, version)
        assert _eventually_filled(server, version), "no fill after the worker was killed"
        assert _worker_pid(server, private_worker_sockets) != victim
    assert mid_fill >= 1, "every fill finished before the kill landed"
    assert any("model worker unavailable" in m for m in server.messages())
    assert server.alive()
    record(f"worker_killed_{mode}", kills=kills, killed_mid_fill=mid_fill, messages=server.messages())


@pytest.mark.parametrize("mode", ["private", "shared"])
def test_a_stopped_worker_is_timed_out_and_the_server_moves_on(
    serve: Callable[..., RawServer], private_worker_sockets: Path, mode: str
) -> None:
    deadline_ms = 2000
    server = serve()
    server.initialize({**QUICK, "worker": {"mode": mode, "deadline_ms": deadline_ms}})
    server.open(URI, AREA)
    assert _eventually_filled(server, 0)
    version = 5
    _edit(server, version)
    hung = _worker_pid(server, private_worker_sockets)
    os.kill(hung, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        response = server.inline(URI, _line(version), 4, timeout=120)
        waited = time.monotonic() - t0
        assert response.get("result", {}).get("items") == [], response
        assert waited >= deadline_ms / 1000  # it did wait for the deadline, then gave up
        assert any("did not answer" in m for m in server.messages()), server.messages()
        # Other requests are served while the worker is gone (no model needed for these).
        assert server.status()["documents"] == 1
        if mode == "private":  # a private child that hung is killed and replaced
            until("the hung private worker to be killed", lambda: not alive(hung))
    finally:
        if alive(hung):
            os.kill(hung, signal.SIGCONT)
    version += 1
    _edit(server, version)
    assert _eventually_filled(server, version), "no fill once the worker was back"
    if mode == "shared":  # the same daemon, woken up, serves again
        assert _worker_pid(server, private_worker_sockets) == hung
    record(f"worker_stopped_{mode}", timed_out_after_s=round(waited, 1), deadline_ms=deadline_ms)


class FakeWorker:
    """A worker endpoint that says `script(hello)` to every connection: the fault being injected."""

    HOLD_S = 120  # longer than the test waits for an answer: a server that waits for the hang-up fails

    def __init__(self, path: Path, script: Callable[[socket.socket], None]) -> None:
        self.path, self.script = path, script
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        os.chmod(path, 0o600)
        self.listener.listen(8)
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(30)
            try:
                conn.recv(65536)  # the hello
                self.script(conn)
                time.sleep(self.HOLD_S)  # hold the connection open: the server must not wait on it forever
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()


def _ready() -> bytes:
    return encode_frame(Ready(model="fake", device="cpu", parameters=1, context_tokens=512, pid=os.getpid()))


def _answer_first_request(reply: bytes) -> Callable[[socket.socket], None]:
    def script(conn: socket.socket) -> None:
        conn.sendall(_ready())
        conn.recv(65536)  # the fill request
        conn.sendall(reply)
    return script


GARBAGE: dict[str, Callable[[socket.socket], None]] = {
    "not msgpack instead of ready": lambda c: c.sendall(b"\x00\x00\x00\x06\xc1\xc1\xc1\xc1\xc1\xc1"),
    "a 4 GiB frame header": lambda c: c.sendall(b"\xff\xff\xff\xff"),
    "ready, then random bytes": _answer_first_request(os.urandom(64)),
    "ready, then a result for another id": _answer_first_request(
        encode_frame({"type": "result", "id": 987654, "candidates": [], "elapsed_ms": 1.0, "forward_passes": 1})
    ),
    "ready, then a result of the wrong shape": _answer_first_request(
        encode_frame({"type": "result", "id": 1, "candidates": "nope", "elapsed_ms": "x"})
    ),
    "ready, then another protocol version": _answer_first_request(
        encode_frame({"type": "result", "v": 999, "id": 1})
    ),
}


@pytest.fixture()
def fake_dir(private_worker_sockets: Path) -> Iterator[Path]:
    folder = private_worker_sockets / "fake"
    folder.mkdir(mode=0o700)
    yield folder


def test_a_worker_speaking_garbage_gets_empty_answers_and_the_server_recovers(
    serve: Callable[..., RawServer], fake_dir: Path
) -> None:
    server = serve()
    server.initialize({**QUICK, "worker": {"mode": "private", "deadline_ms": 1000}})
    server.open(URI, AREA)
    version, told = 0, []
    for i, (name, script) in enumerate(GARBAGE.items()):
        fake = FakeWorker(fake_dir / f"w{i}.sock", script)
        try:
            server.notify("workspace/didChangeConfiguration", {"settings": {
                **QUICK, "worker": {"address": f"unix://{fake.path}", "deadline_ms": 1000}}})
            version += 1
            _edit(server, version)
            before = len(server.messages())
            t0 = time.monotonic()
            response = server.inline(URI, _line(version), 4, timeout=90)
            assert response.get("result", {}).get("items") == [], (name, response)
            assert time.monotonic() - t0 < 60, name  # at its 1 s deadline, long before the fake hangs up
            assert fake.connections >= 1, name
            new = [m for m in server.messages()[before:] if "model worker unavailable" in m]
            assert len(new) == 1, f"{name}: the user was not told once: {server.messages()[before:]}"
            told.append(f"{name}: {new[0]}")
        finally:
            fake.close()
        # The real worker again: the server recovers at once.
        server.notify("workspace/didChangeConfiguration", {"settings": {**QUICK, "worker": {"mode": "private"}}})
        version += 1
        _edit(server, version)
        assert _eventually_filled(server, version), f"no recovery after {name}"
        version += 10
    assert server.alive()
    record("worker_garbage", faults=len(GARBAGE), messages=told)


def _broken_model(folder: Path, fault: str) -> None:
    if fault == "missing":
        return
    folder.mkdir()
    for name in ("config.json", "tokenizer.json"):
        shutil.copy(DEFAULT_CHECKPOINT / name, folder / name)
    weights = (DEFAULT_CHECKPOINT / "model.safetensors").read_bytes()
    if fault == "truncated safetensors":
        (folder / "model.safetensors").write_bytes(weights[: len(weights) // 3])
    elif fault == "header only":
        (folder / "model.safetensors").write_bytes(weights[:8])
    elif fault == "no config":
        (folder / "config.json").unlink()
        (folder / "model.safetensors").write_bytes(weights)


def _repair(folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        shutil.copy(DEFAULT_CHECKPOINT / name, folder / name)


@pytest.mark.parametrize("mode", ["shared", pytest.param("private", marks=SOAK_ONLY)])
def test_a_broken_model_folder_is_reported_and_fixing_it_recovers(
    serve: Callable[..., RawServer], tmp_path: Path, mode: str
) -> None:
    faults = ["missing", "truncated safetensors", "header only", "no config"]
    reasons = {"missing": "config.json", "truncated safetensors": "safetensors", "header only": "safetensors",
               "no config": "config.json"}
    told: dict[str, str] = {}
    server = serve()
    server.initialize({**QUICK, "worker": {"mode": mode}})
    server.open(URI, AREA)
    version = 0
    for i, fault in enumerate(faults):
        folder = tmp_path / f"model{i}"
        _broken_model(folder, fault)
        server.notify("workspace/didChangeConfiguration", {"settings": {
            **QUICK, "model": str(folder), "worker": {"mode": mode}}})
        version += 1
        _edit(server, version)
        before = len(server.messages())
        response = server.inline(URI, _line(version), 4, timeout=120)
        assert response.get("result", {}).get("items") == [], (fault, response)
        assert server.status()["worker"] == "not started"
        shown = [m for m in server.messages()[before:] if "model worker unavailable" in m]
        assert len(shown) == 1, (fault, server.messages())
        assert reasons[fault] in shown[0], (fault, shown[0])
        told[fault] = shown[0]
        _repair(folder)  # the worker comes back with the folder
        version += 1
        _edit(server, version)
        assert _eventually_filled(server, version), f"no recovery after {fault}"
        version += 10
    assert server.alive()
    record(f"model_folder_{mode}", faults=len(faults), messages=told)
