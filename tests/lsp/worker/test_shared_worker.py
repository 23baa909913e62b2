"""`fillgap serve` processes and the shared worker daemon, all real: one model for every server,
a killed worker answered at once and replaced, a storm of superseded requests that leaves nothing
behind. Each test has its own socket folder (tests/conftest.py), so its own daemon."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import pytest
from lsprotocol import types

from lsp.eval.client import FillgapClient, inline, open_doc, running_server
from model.wire.endpoint import runtime_dir
from tests.daemons import alive
from tests.model.serve.daemon_client import free_port, start_daemon, wait_for_port
from tests.waiting import until_async

pytestmark = [pytest.mark.slow]

FAST: dict[str, Any] = {"threads": 1, "worker": {"idle_timeout_s": 60}}
AREA = 'def area(w, h):\n    """Area of a rectangle."""\n    pass\n'
URI = "file:///tmp/area.py"


async def _status(client: FillgapClient) -> dict[str, Any]:
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="fillgap.status"))
    assert isinstance(result, dict)
    return result


async def _worker_busy(client: FillgapClient) -> bool:
    return (await _status(client)).get("worker_status", {}).get("running", 0) >= 1


async def _worker_idle(client: FillgapClient) -> dict[str, Any] | None:
    worker = (await _status(client))["worker_status"]
    return worker if worker["queued"] == 0 and worker["running"] == 0 else None


def _edit(client: FillgapClient, version: int, text: str) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


def _configure(client: FillgapClient, settings: dict[str, Any]) -> None:
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"fillgap": settings}))


async def test_two_servers_share_one_worker_and_one_model_load() -> None:
    async with running_server(FAST) as a, running_server(FAST) as b:
        open_doc(a, URI, AREA)
        open_doc(b, URI, AREA)
        # Both need a worker at the same moment: both start a daemon, one of them loads the model.
        got_a, got_b = await asyncio.gather(inline(a, URI, 2, 4), inline(b, URI, 2, 4))
        assert got_a and got_b
        sa, sb = (await _status(a))["worker_status"], (await _status(b))["worker_status"]
        assert sa["pid"] == sb["pid"] and alive(sa["pid"])
        assert sb["connections"] >= 2 and sb["served"] >= 2
        log = next(runtime_dir().glob("worker-*.log")).read_text()
        assert log.count(" loaded ") == 1, log
    # The servers are gone; the daemon stays for the next one (until idle).
    assert alive(sa["pid"])
    async with running_server(FAST) as c:
        open_doc(c, URI, "# third\n" + AREA)
        assert await inline(c, URI, 3, 4)
        assert (await _status(c))["worker_status"]["pid"] == sa["pid"]


async def test_a_worker_killed_mid_request_is_answered_empty_at_once_then_replaced() -> None:
    async with running_server(FAST) as client:
        open_doc(client, URI, AREA)
        assert await inline(client, URI, 2, 4)  # the daemon is up
        old_pid = (await _status(client))["worker_status"]["pid"]
        # Same model and device, so the same worker; only the fills get slow (200 steps each).
        _configure(client, {**FAST, "sampler": {"steps": 200, "refine_rounds": 0}, "budgets": {"body": [200]}})
        _edit(client, 2, "# slow\n" + AREA)
        pending = asyncio.ensure_future(inline(client, URI, 3, 4))
        await until_async("the slow fill to run in the worker", lambda: _worker_busy(client), every=0.2)
        assert not pending.done()  # well inside its 200 denoising steps
        os.kill(old_pid, signal.SIGKILL)
        killed = time.monotonic()
        items = await asyncio.wait_for(pending, 30)
        answered_in = time.monotonic() - killed
        assert items == []
        # At once, not at the fill deadline (30 s by default): a wide margin for a busy machine.
        assert answered_in < 10.0, f"answered {answered_in:.2f}s after the kill"
        print(f"killed worker: answered empty {answered_in * 1000:.0f} ms after the kill")
        _configure(client, FAST)
        _edit(client, 3, "# after\n" + AREA)
        assert await inline(client, URI, 3, 4)  # a new worker, started for this request
        new_pid = (await _status(client))["worker_status"]["pid"]
        assert new_pid != old_pid and alive(new_pid)


async def test_a_storm_of_superseded_requests_leaves_the_queue_empty() -> None:
    async with running_server(FAST) as client:
        open_doc(client, URI, AREA)
        await inline(client, URI, 2, 4)  # warm: daemon up, model loaded
        t0 = time.monotonic()
        _edit(client, 2, "# baseline\n" + AREA)
        assert await inline(client, URI, 3, 4)
        baseline = time.monotonic() - t0

        sent: list[asyncio.Future[Any]] = []
        version, start = 3, time.monotonic()
        # 800 requests in bursts of ten, each superseding the last: about 200 a second on an idle
        # machine. A count, not a duration, so a busy machine sends the same storm, only slower.
        for _ in range(80):
            for _ in range(10):
                version += 1
                _edit(client, version, f"# keystroke {version}\n" + AREA)
                sent.append(asyncio.ensure_future(inline(client, URI, 3, 4)))
            await asyncio.sleep(0.05)
        rate = len(sent) / (time.monotonic() - start)
        last_sent = time.monotonic()
        results = await asyncio.wait_for(asyncio.gather(*sent, return_exceptions=True), 120)
        last_latency = time.monotonic() - last_sent
        assert results[-1] and not isinstance(results[-1], BaseException)  # the newest one is answered

        # Cancelled fills leave at their next step: wait for that (a generous deadline), then look.
        worker = await until_async("the worker's queue to empty", lambda: _worker_idle(client), every=0.1)
        print(
            f"storm: {len(sent)} requests at {rate:.0f}/s; worker served {worker['served']}, "
            f"cancelled {worker['cancelled']}; last answered in {last_latency:.2f}s (baseline {baseline:.2f}s)"
        )
        assert worker["served"] < len(sent) / 4  # most were dropped, not computed
        # The last request waited for nothing the storm left behind. The bound is generous (a busy
        # machine): computing even a quarter of the storm's fills would take far longer.
        assert last_latency < 10 * baseline + 30.0, (last_latency, baseline)


async def test_a_private_worker_is_a_child_of_the_server() -> None:
    async with running_server({**FAST, "worker": {"mode": "private"}}) as client:
        open_doc(client, URI, AREA)
        assert await inline(client, URI, 2, 4)
        pid = (await _status(client))["worker_status"]["pid"]
        server_pid = client._server.pid  # type: ignore[union-attr]
        assert f"PPid:\t{server_pid}\n" in open(f"/proc/{pid}/status").read()
        assert not list(runtime_dir().glob("worker-*.sock"))


async def test_a_remote_worker_without_the_token_is_refused_and_the_server_answers_empty(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()
    monkeypatch.setenv("FILLGAP_TOKEN", "the-right-token")
    proc = start_daemon("--listen", f"tcp://127.0.0.1:{port}")
    try:
        wait_for_port(port, proc)
        monkeypatch.setenv("FILLGAP_TOKEN", "a-wrong-token")  # what the server will send
        async with running_server({**FAST, "worker": {"address": f"tcp://127.0.0.1:{port}"}}) as client:
            open_doc(client, URI, AREA)
            assert await inline(client, URI, 2, 4) == []
            # The window/showMessage notification follows the answer: wait for it, not a fixed time.
            await until_async("the unauthorized message", lambda: any("unauthorized" in m for m in client.messages))
        assert proc.poll() is None  # refusing a client is not a reason to stop
    finally:
        proc.kill()
        proc.wait()
