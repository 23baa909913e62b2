"""The worker as a daemon (real processes, the shipped checkpoint): socket safety, one daemon per
configuration, TCP tokens, connections dropped for bad frames, continuous batching, idle exit."""

from __future__ import annotations

import os
import socket
import stat
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from model.wire.endpoint import EndpointError, check_own_socket, lock_path, runtime_dir, socket_path
from model.wire.protocol import (
    ErrorReply,
    FillRequest,
    FillResult,
    Ready,
    SamplerSettings,
    StatusRequest,
    WorkerStatus,
)
from tests.daemons import alive
from tests.model.serve.daemon_client import default_socket, free_port, start_daemon, tcp, unix, wait_for, wait_for_port
from tests.waiting import until

pytestmark = [pytest.mark.slow]


@pytest.fixture()
def daemon() -> Iterator[subprocess.Popen[bytes]]:
    proc = start_daemon("--listen", "auto")
    wait_for(default_socket(), proc)
    yield proc
    proc.kill()
    proc.wait()


def _status(path: Path) -> WorkerStatus:
    c = unix(path)
    try:
        assert isinstance(c.hello(), Ready)
        c.send(StatusRequest(id=7))
        st = c.recv()
        assert isinstance(st, WorkerStatus) and st.id == 7
        return st
    finally:
        c.close()


def _unfinished(path: Path) -> int:
    st = _status(path)
    return st.running + st.queued


def test_the_socket_is_private_and_named_for_its_configuration(daemon: subprocess.Popen[bytes]) -> None:
    sock = default_socket()
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(sock.parent).st_mode) == 0o700
    assert lock_path(sock).read_text().strip() == str(daemon.pid)
    assert socket_path("other/model", "cpu") != sock and socket_path(None, "cuda") != sock
    c = unix(sock)
    ready = c.hello()
    assert isinstance(ready, Ready) and ready.pid == daemon.pid
    c.send(FillRequest(id=1, prefix="def area(w, h):\n    ", suffix="\n", budgets=[8, 16]))
    res = c.recv()
    assert isinstance(res, FillResult) and res.id == 1 and len(res.candidates) == 2
    c.close()


@pytest.mark.skipif(os.getuid() != 0, reason="making a folder someone else owns takes root")
def test_a_socket_folder_or_socket_of_another_user_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "fillgap"
    folder.mkdir(mode=0o700)
    os.chown(folder, 4242, 4242)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    with pytest.raises(EndpointError, match="belongs to uid 4242"):
        runtime_dir()
    os.chown(folder, 0, 0)
    sock = folder / "worker-x.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(sock))
        os.chown(sock, 4242, 4242)
        with pytest.raises(EndpointError, match="refusing to connect"):
            check_own_socket(sock)
    proc = start_daemon("--listen", "auto")  # the daemon checks its folder too
    os.chown(folder, 4242, 4242)
    try:
        assert proc.wait(timeout=60) == 2
    finally:
        os.chown(folder, 0, 0)


def test_a_folder_open_to_others_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "fillgap"
    folder.mkdir()
    folder.chmod(0o755)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    with pytest.raises(EndpointError, match="open to other users"):
        runtime_dir()


def test_daemons_started_at_once_settle_on_one_that_loads_the_model() -> None:
    procs = [start_daemon("--listen", "auto") for _ in range(3)]
    try:
        wait_for(default_socket(), timeout=120)
        # Exactly one keeps running; the others stand down with ALREADY_RUNNING (3) before loading.
        until = time.monotonic() + 60
        while sum(p.poll() is None for p in procs) > 1 and time.monotonic() < until:
            time.sleep(0.1)
        running = [p for p in procs if p.poll() is None]
        assert len(running) == 1
        assert sorted(p.returncode for p in procs if p not in running) == [3, 3]
        for p in procs:
            if p not in running:
                assert p.stderr is not None and b"loaded" not in p.stderr.read()
        assert _status(default_socket()).pid == running[0].pid
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_tcp_refuses_clients_without_the_token(tmp_path: Path) -> None:
    port = free_port()
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    token.chmod(0o600)
    proc = start_daemon("--listen", f"tcp://127.0.0.1:{port}", "--token-file", str(token))
    try:
        wait_for_port(port, proc)
        for wrong in ("", "s3cret-tokeN", "s3cret-token-and-more"):
            c = tcp(port)
            reply = c.hello(wrong)
            assert isinstance(reply, ErrorReply) and reply.message == "unauthorized"
            assert c.at_eof()
            c.close()
        c = tcp(port)
        c.send(FillRequest(id=1, prefix="x = ", suffix="\n", budgets=[4]))  # no hello first
        assert isinstance(c.recv(), ErrorReply) and c.at_eof()
        c.close()
        c = tcp(port)
        assert isinstance(c.hello("s3cret-token"), Ready)
        c.send(FillRequest(id=2, prefix="x = ", suffix="\n", budgets=[4]))
        assert isinstance(c.recv(), FillResult)
        c.close()
    finally:
        proc.kill()
        proc.wait()


def test_tcp_without_a_token_configured_does_not_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FILLGAP_TOKEN", raising=False)
    proc = start_daemon("--listen", f"tcp://127.0.0.1:{free_port()}")
    assert proc.wait(timeout=60) == 2
    assert proc.stderr is not None and b"needs a token" in proc.stderr.read()


def test_a_bad_frame_drops_that_connection_and_the_daemon_serves_on(daemon: subprocess.Popen[bytes]) -> None:
    sock = default_socket()
    other = unix(sock)
    assert isinstance(other.hello(), Ready)
    for body in (b"\xc1 not msgpack", b"\x81\xa1v\x07"):  # garbage; a map of protocol version 7
        c = unix(sock)
        assert isinstance(c.hello(), Ready)
        c.sock.sendall(struct.pack(">I", len(body)) + body)
        assert isinstance(c.recv(), ErrorReply)
        assert c.at_eof()
        c.close()
    other.send(FillRequest(id=3, prefix="y = ", suffix="\n", budgets=[4]))
    assert isinstance(other.recv(), FillResult)  # the other connection, and the worker, are fine
    other.close()
    assert daemon.poll() is None


def test_a_short_fill_joins_a_long_one_and_finishes_first(daemon: subprocess.Popen[bytes]) -> None:
    sock = default_socket()
    a, b = unix(sock), unix(sock)
    assert isinstance(a.hello(), Ready) and isinstance(b.hello(), Ready)
    # Without the cache, which our family uses by default: a cached pass runs alone, never shared.
    long = SamplerSettings(steps=64, refine_rounds=0, dual_cache=False)
    a.send(FillRequest(id=1, prefix="def f(items):\n    ", suffix="\n", budgets=[64] * 4, sampler=long))
    until("the long fill to run", lambda: _status(sock).running == 1, every=0.1)  # not a fixed sleep
    short_settings = SamplerSettings(steps=2, dual_cache=False)
    b.send(FillRequest(id=2, prefix="x = ", suffix="\n", budgets=[4], sampler=short_settings))
    b.sock.settimeout(120)
    short = b.recv()
    assert isinstance(short, FillResult) and short.id == 2
    # Had it waited for the long fill, the long one would be done by now; it is still denoising.
    st = _status(sock)
    assert st.running == 1 and st.served == 1
    long_result = a.recv()
    assert isinstance(long_result, FillResult)
    st = _status(sock)
    # Passes the two fills shared ran once for both: fewer passes than the fills ran between them.
    # (Not mean rows per pass: a pass that runs alone, such as a cached one, counts no batched rows.)
    assert st.forward_passes < long_result.forward_passes + short.forward_passes, st
    a.close()
    b.close()


def test_a_dropped_connection_cancels_its_fills(daemon: subprocess.Popen[bytes]) -> None:
    sock = default_socket()
    c = unix(sock)
    assert isinstance(c.hello(), Ready)
    slow = SamplerSettings(steps=200, refine_rounds=0)
    for i in range(3):
        c.send(FillRequest(id=i, prefix="def f():\n    ", suffix="\n", budgets=[200] * 4, sampler=slow))
    until("the fills to reach the batcher", lambda: _unfinished(sock) == 3, every=0.1)
    c.close()
    until("the dropped fills to leave", lambda: _unfinished(sock) == 0, every=0.1)
    st = _status(sock)
    assert st.cancelled == 3 and st.served == 0


def test_an_idle_daemon_exits_and_removes_its_socket() -> None:
    proc = start_daemon("--listen", "auto", "--idle-timeout", "1")
    sock = default_socket()
    wait_for(sock, proc)
    assert _status(sock).connections == 1  # our own status connection
    assert proc.wait(timeout=60) == 0
    assert not sock.exists()
    assert not alive(proc.pid)
