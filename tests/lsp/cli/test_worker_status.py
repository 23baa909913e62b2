"""`fillgap status` against a real daemon: what it reports, and --shutdown."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from model.wire.protocol import FillRequest, FillResult, Ready
from tests.model.serve.daemon_client import default_socket, start_daemon, unix, wait_for

STATUS = [sys.executable, "-m", "lsp.cli", "status"]


def test_status_says_when_no_worker_runs() -> None:
    done = subprocess.run(STATUS, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "no fillgap worker is running" in done.stdout


@pytest.mark.slow
def test_status_reports_a_running_worker_and_shutdown_stops_it() -> None:
    proc = start_daemon("--listen", "auto")
    try:
        wait_for(default_socket(), proc)
        c = unix(default_socket())
        assert isinstance(c.hello(), Ready)
        c.send(FillRequest(id=1, prefix="def area(w, h):\n    ", suffix="\n", budgets=[8]))
        assert isinstance(c.recv(), FillResult)
        c.close()

        text = subprocess.run(STATUS, capture_output=True, text=True, timeout=60)
        assert text.returncode == 0
        for word in ("fillgap-small", "torch SDPA", "waiting", "served   1", "p95", "resident"):
            assert word in text.stdout, text.stdout

        as_json = subprocess.run([*STATUS, "--json"], capture_output=True, text=True, timeout=60)
        (line,) = as_json.stdout.strip().splitlines()
        st = json.loads(line)
        assert st["pid"] == proc.pid and st["served"] == 1 and st["queued"] == 0 and st["device"] == "cpu"
        assert st["p50_ms"] > 0 and st["rss_mb"] > 50 and st["backend"]

        stop = subprocess.run([*STATUS, "--shutdown"], capture_output=True, text=True, timeout=60)
        assert stop.returncode == 0 and "asked to shut down" in stop.stdout
        assert proc.wait(timeout=30) == 0
        assert not default_socket().exists()
    finally:
        proc.kill()
        proc.wait()
