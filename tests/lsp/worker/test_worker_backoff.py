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


async def test_a_missing_worker_fails_fast_while_backing_off() -> None:
    client = WorkerClient(RemoteWorker(Address("tcp", host="127.0.0.1", port=free_port()), "token"))
    for _ in range(2):  # the first failure is retried at once
        with pytest.raises(WorkerUnavailable, match="cannot reach"):
            await client.fill("x = ", "\n", [4], SamplerSettings())
    assert client.failures == 2
    t0 = time.monotonic()
    with pytest.raises(WorkerUnavailable, match="trying again in"):  # inside the 0.5 s window: no attempt
        await client.fill("x = ", "\n", [4], SamplerSettings())
    assert time.monotonic() - t0 < 0.4 and client.failures == 2
    await asyncio.sleep(0.6)
    with pytest.raises(WorkerUnavailable, match="cannot reach"):  # the window has passed: tried again
        await client.fill("x = ", "\n", [4], SamplerSettings())
    assert client.failures == 3
