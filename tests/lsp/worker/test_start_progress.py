"""A worker start that takes long but moves is not given up: each progress report pushes the start's
deadline on. A shared daemon listens only once loaded, so its progress reaches waiting servers
through the file beside its socket; a real daemon and the real connector show it."""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading
import time
from pathlib import Path

import pytest

from lsp.worker.connectors import PROGRESS_STALL_S, DaemonProgress, SharedDaemon, StartClock
from model.serve.daemon import ProgressFile
from model.wire.endpoint import lock_path, progress_path
from model.wire.options import START_TIMEOUT_MIN_S, start_timeout_s
from model.wire.protocol import Progress


def test_a_loading_daemons_progress_file_is_read_when_it_changes(tmp_path: Path) -> None:
    sock = tmp_path / "worker-x.sock"
    written, watch = ProgressFile(sock), DaemonProgress(progress_path(sock))
    assert watch.poll() is None  # nothing loading
    written.write(Progress("load", 10, 100, "model-00001-of-00002.safetensors"))
    assert watch.poll() == Progress("load", 10, 100, "model-00001-of-00002.safetensors")
    assert watch.poll() is None  # nothing new
    written.write(Progress("load", 60, 100, "model-00002-of-00002.safetensors"))
    assert watch.poll() == Progress("load", 60, 100, "model-00002-of-00002.safetensors")
    assert oct(progress_path(sock).stat().st_mode & 0o777) == "0o600"
    old = time.time() - 2 * PROGRESS_STALL_S  # left by a daemon that died loading
    written.write(Progress("load", 70, 100, "x"))
    os.utime(progress_path(sock), (old, old))
    assert DaemonProgress(progress_path(sock)).poll() is None
    written.remove()
    assert not progress_path(sock).exists() and watch.poll() is None


async def test_each_report_pushes_the_deadline_on() -> None:
    heard: list[Progress] = []
    clock = StartClock(0.0, heard.append)
    assert clock.left() == 0.0
    clock.heard(Progress("load", 1, 2))
    assert PROGRESS_STALL_S - 1 < clock.left() <= PROGRESS_STALL_S and heard == [Progress("load", 1, 2)]
    boom = StartClock(5.0, lambda p: 1 / 0)  # type: ignore[arg-type,func-returns-value]
    boom.heard(Progress("load", 1, 2))  # a broken listener does not fail the start
    assert boom.left() > 5.0


def test_the_start_timeout_is_sized_from_the_checkpoint(tmp_path: Path) -> None:
    assert start_timeout_s(None) == START_TIMEOUT_MIN_S == start_timeout_s(str(tmp_path / "missing"))
    for i in (1, 2):  # 2 x 10 GB (sparse files: nothing is written)
        with (tmp_path / f"model-0000{i}-of-00002.safetensors").open("wb") as f:
            f.truncate(10 * 10**9)
    assert start_timeout_s(str(tmp_path)) == pytest.approx(60 + 20e9 / 50e6)  # 7.7 minutes
    assert start_timeout_s("hf:Dream-org/Dream-Coder-v0-Instruct-7B") >= 1800


@pytest.mark.slow
async def test_a_shared_daemon_that_reports_progress_is_waited_for_past_the_timeout() -> None:
    """Another daemon holds the socket's lock and reports progress for 3 s (as one loading a large
    model would); ours waits for the lock, then loads and listens. The connector, given 1 s, keeps
    waiting while reports come, passes them on, and reaches the daemon."""
    connector = SharedDaemon(None, "cpu", threads=1, idle_timeout_s=60)
    sock = connector.sock
    fd = os.open(lock_path(sock), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    loading = ProgressFile(sock)

    def other_daemon_loading() -> None:
        for i in range(10):
            loading.write(Progress("load", i, 10, "elsewhere.safetensors"))
            time.sleep(0.3)
        loading.remove()
        os.close(fd)  # the lock goes: ours takes it

    threading.Thread(target=other_daemon_loading, daemon=True).start()
    heard: list[Progress] = []
    t0 = time.monotonic()
    link = await connector.connect(1.0, heard.append)
    try:
        assert time.monotonic() - t0 > 2.5  # well past the 1 s asked for
        assert link.ready.parameters > 1_000_000
        assert [p.message for p in heard][:3] == ["elsewhere.safetensors"] * 3
        assert not progress_path(sock).exists()  # a daemon that listens keeps no progress file
    finally:
        await connector.stop(link)
        await asyncio.sleep(0)
