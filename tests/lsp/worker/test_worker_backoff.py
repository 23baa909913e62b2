"""Reconnecting to a worker that is not there: at once the first time, then backing off, failing
fast in between (a real TCP port with nobody listening; no model needed)."""

from __future__ import annotations

import asyncio
import time

import pytest

from lsp.worker.client import WorkerClient, backoff_s
from lsp.worker.connectors import RemoteWorker, WorkerUnavailable
from model.wire.endpoint import Address
from model.wire.protocol import SamplerSettings
from tests.model.serve.daemon_client import free_port


def test_backoff_grows_and_is_capped() -> None:
    assert [backoff_s(n) for n in (1, 2, 3, 4)] == [0.0, 0.5, 1.0, 2.0]
    assert backoff_s(50) == 30.0


async def test_a_missing_worker_is_retried_at_once_then_after_the_backoff() -> None:
    client = WorkerClient(RemoteWorker(Address("tcp", host="127.0.0.1", port=free_port()), "token"))
    for _ in range(2):  # the first failure is retried at once
        with pytest.raises(WorkerUnavailable, match="cannot reach"):
            await client.fill("x = ", "\n", [4], SamplerSettings())
    assert client.failures == 2
    await asyncio.sleep(backoff_s(2) + 0.1)  # over-sleeping on a busy machine only makes it surer
    with pytest.raises(WorkerUnavailable, match="cannot reach"):  # the window has passed: tried again
        await client.fill("x = ", "\n", [4], SamplerSettings())
    assert client.failures == 3


async def test_a_missing_worker_fails_fast_inside_the_backoff_window() -> None:
    """Inside the window no connection is attempted (the failure count stays) and the call does not
    wait the window out. The window is the longest one, 30 s, so a busy machine cannot close it
    before the second call; a client that waited for it would be stopped at half of it."""
    client = WorkerClient(RemoteWorker(Address("tcp", host="127.0.0.1", port=free_port()), "token"))
    client.failures = 8  # as after eight failures in a row: the next one opens the longest window
    with pytest.raises(WorkerUnavailable, match="cannot reach"):
        await client.fill("x = ", "\n", [4], SamplerSettings())
    assert client.failures == 9
    window = backoff_s(client.failures)
    t0 = time.monotonic()
    with pytest.raises(WorkerUnavailable, match="trying again in"):
        await asyncio.wait_for(client.fill("x = ", "\n", [4], SamplerSettings()), window / 2)
    assert client.failures == 9, "a connection was attempted inside the backoff window"
    assert time.monotonic() - t0 < window / 2
