"""fillgap on a real Ray Serve cluster, bound to loopback: `fillgap cluster up` deploys the shipped
model as two CPU replicas ("small") and an autoscaled one ("burst", 1 to 2), and real `fillgap
serve` processes and the server's own worker client reach them over HTTP. One cluster for the
module: starting Ray costs seconds, and each test leaves it as it found it (the killed replica is
back before the test ends)."""

from __future__ import annotations

import asyncio
import os
import signal
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgpack
import pytest

from lsp.eval.client import inline, open_doc, running_server
from lsp.worker.client import WorkerClient, WorkerUnavailable
from lsp.worker.cluster import ServeCluster
from model.cluster.local import LocalCluster, free_port
from model.wire import http
from model.wire.protocol import (
    ClusterStatus,
    SamplerSettings,
    StatusRequest,
    VersionMismatch,
    decode_frame,
    encode_frame,
    from_wire,
)
from tests.model.gemma.folders import build
from tests.waiting import until_async

pytestmark = [pytest.mark.slow]

TOKEN = "test-token-" + os.urandom(8).hex()
SLOW = SamplerSettings(steps=300, refine_rounds=0)  # a fill of hundreds of steps: seconds to cancel or kill in
CONFIG = """
http_host = "127.0.0.1"
http_port = {port}
token_file = "{token_file}"
gateways = 2

[[models]]
name = "small"
min_replicas = 2
max_replicas = 2
threads = 1
health_check_period_s = 1
health_check_timeout_s = 8
graceful_shutdown_timeout_s = 5

[[models]]
name = "burst"
min_replicas = 1
max_replicas = 2
threads = 1
target_ongoing = 1
upscale_delay_s = 0.5
downscale_delay_s = 3

[[models]]
name = "gemma"
path = "{gemma}"
threads = 1
"""


def cluster_up(ray_cluster: LocalCluster, config: Path) -> str:
    """`fillgap cluster up --config`, as an operator runs it; the URL it serves at."""
    up = [sys.executable, "-m", "lsp.cli", "cluster", "--address", ray_cluster.address, "up", "--config", str(config)]
    done = subprocess.run(up, env=ray_cluster.env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().rsplit(" at ", 1)[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCluster, str, Path]]:
    folder = tmp_path_factory.mktemp("cluster")
    (folder / "token").write_text(TOKEN + "\n")
    config = folder / "cluster.toml"
    gemma = build(folder, name="diffusiongemma")  # the published config and tokenizer layout, tiny and random
    config.write_text(CONFIG.format(port=free_port(), token_file=folder / "token", gemma=gemma))
    with LocalCluster() as ray_cluster:
        yield ray_cluster, cluster_up(ray_cluster, config), config


def client(url: str, model: str = "small", token: str = TOKEN, deadline_ms: int = 60_000) -> WorkerClient:
    return WorkerClient(ServeCluster(url, token, model), deadline_ms=deadline_ms)


async def status(worker: WorkerClient) -> ClusterStatus:
    st = await worker.status(timeout=20)
    assert isinstance(st, ClusterStatus)
    return st


def replicas(st: ClusterStatus, model: str) -> dict[int, Any]:
    return {r.pid: r for m in st.models if m.name == model for r in m.replicas}


async def test_a_diffusion_gemma_folder_is_served_beside_our_model(cluster) -> None:
    _, url, _ = cluster
    worker = client(url, model="gemma")
    ready = await worker.ensure_started()
    assert ready.family == "diffusion_gemma", ready
    result = await worker.fill("def f(x):\n    return ", "\n", [16], SamplerSettings())
    assert result.candidates, "the block-diffusion engine answered through the gateway"
    families = {m.name: {r.family for r in m.replicas} for m in (await status(worker)).models}
    assert families["gemma"] == {"diffusion_gemma"} and "diffusion_gemma" not in families["small"], families
    await worker.close()


def test_every_ray_port_is_on_loopback_but_serves_replica_channel(cluster) -> None:
    ray_cluster, _, _ = cluster
    listening = ray_cluster.listeners()
    assert listening, "the cluster's processes listen nowhere?"
    outward = {pid: [a for a in addrs if not _loopback(a)] for pid, addrs in listening.items()}
    outward = {pid: addrs for pid, addrs in outward.items() if addrs}
    # Ray Serve 2.60 binds each replica's inter-deployment gRPC server to [::]:0 (serve/_private/
    # replica.py, not configurable): the one exception, named in the README's security section.
    for pid, addrs in outward.items():
        name = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
        assert name.startswith("ray::ServeReplica") and all(a.startswith("[::]:") for a in addrs), (name, addrs)


def _loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0]
    return host in ("127.0.0.1", "[::1]", "[::ffff:127.0.0.1]")


async def test_fills_from_three_servers_are_spread_over_both_replicas(cluster) -> None:
    _, url, config = cluster
    token_file = config.with_name("token")
    settings = {"threads": 1, "worker": {"address": url, "token_file": str(token_file), "model": "small"}}
    worker = client(url)
    before = {pid: r.served for pid, r in replicas(await status(worker), "small").items()}
    assert len(before) == 2
    async with running_server(settings) as a, running_server(settings) as b, running_server(settings) as c:
        servers = (a, b, c)
        for i, server in enumerate(servers):
            for j in range(3):
                open_doc(server, f"file:///tmp/s{i}_{j}.py", f'def area{i}{j}(w, h):\n    """Area."""\n    pass\n')
        got = await asyncio.gather(
            *(inline(s, f"file:///tmp/s{i}_{j}.py", 2, 4) for i, s in enumerate(servers) for j in range(3))
        )
    assert all(got), "every server's fills answered"
    after = await until_async("both replicas to report", lambda: _served(worker, before), timeout=30)
    print(f"fills served per replica: {after}")
    await worker.close()
    shown = subprocess.run(
        [sys.executable, "-m", "lsp.cli", "status", "--address", url, "--token-file", str(token_file)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "small: HEALTHY, 2 of 2 replicas running" in shown.stdout, shown.stdout
    assert all(f"pid {pid}," in shown.stdout for pid in after), shown.stdout


async def _served(worker: WorkerClient, before: dict[int, int]) -> dict[int, int] | None:
    now = {pid: r.served - before.get(pid, 0) for pid, r in replicas(await status(worker), "small").items()}
    return now if len(now) == 2 and sum(now.values()) >= 9 and all(now.values()) else None


async def test_a_cancelled_fill_stops_its_replica_at_the_next_step(cluster) -> None:
    _, url, _ = cluster
    worker = client(url)
    fill = asyncio.ensure_future(worker.fill("def f(x):\n    ", "\n", [300], SLOW))
    busy = await until_async("the slow fill to run", lambda: _busy(worker, "small"), timeout=30)
    fill.cancel()
    st = await until_async("the replica to count it cancelled", lambda: _cancelled(worker, busy), timeout=30)
    passes = st.forward_passes
    await asyncio.sleep(1.0)  # were it still running, a step every few ms would show here
    assert replicas(await status(worker), "small")[busy.pid].forward_passes == passes
    assert passes - busy.forward_passes < 300, "stopped before its 300 steps"
    await worker.close()


async def _busy(worker: WorkerClient, model: str) -> Any:
    return next((r for r in replicas(await status(worker), model).values() if r.running), None)


async def _cancelled(worker: WorkerClient, busy: Any) -> Any:
    now = replicas(await status(worker), "small").get(busy.pid)
    return now if now is not None and now.cancelled > busy.cancelled and not now.running else None


async def test_a_replica_killed_mid_fill_is_retried_elsewhere_and_replaced(cluster) -> None:
    _, url, _ = cluster
    worker = client(url)
    fill = asyncio.ensure_future(worker.fill("def g(x):\n    ", "\n", [200], SamplerSettings(steps=120)))
    busy = await until_async("the slow fill to run", lambda: _busy(worker, "small"), timeout=30)
    os.kill(busy.pid, signal.SIGKILL)
    result = await asyncio.wait_for(fill, 120)
    assert result.candidates, "answered by the other replica"
    back = await until_async("a new replica in its place", lambda: _two_others(worker, busy.pid), timeout=90)
    print(f"replica {busy.pid} killed mid-fill: answered by a retry; replaced by {sorted(back)}")
    await worker.close()


async def test_a_hung_replica_is_replaced_and_its_fill_retried(cluster) -> None:
    _, url, _ = cluster
    worker = client(url)
    fill = asyncio.ensure_future(worker.fill("def k(x):\n    ", "\n", [200], SamplerSettings(steps=120)))
    busy = await until_async("the slow fill to run", lambda: _busy(worker, "small"), timeout=30)
    os.kill(busy.pid, signal.SIGSTOP)  # alive, answering nothing: its health check times out
    try:
        result = await asyncio.wait_for(fill, 120)
        assert result.candidates, "answered by the other replica once Serve gave up on the hung one"
        await until_async("a new replica in its place", lambda: _two_others(worker, busy.pid), timeout=90)
    finally:
        if os.path.exists(f"/proc/{busy.pid}"):
            os.kill(busy.pid, signal.SIGCONT)
    await worker.close()


async def _two_others(worker: WorkerClient, dead: int) -> dict[int, Any] | None:
    st = await status(worker)
    now = replicas(st, "small")
    small = next(m for m in st.models if m.name == "small")
    return now if len(now) == 2 and dead not in now and small.running == 2 else None


async def test_a_wrong_token_is_refused(cluster) -> None:
    _, url, _ = cluster
    worker = client(url, token="not-the-token")
    with pytest.raises(WorkerUnavailable, match="unauthorized"):
        await worker.ensure_started()
    async with httpx.AsyncClient() as raw:
        answer = await raw.post(url + http.STATUS, content=encode_frame(StatusRequest(id=1)))
    assert answer.status_code == 401 and from_wire(decode_frame(answer.content)).message == "unauthorized"


async def test_another_protocol_version_is_refused_saying_both(cluster) -> None:
    _, url, _ = cluster
    body = msgpack.packb({"type": "hello", "token": "", "v": 3})
    old = struct.pack(">I", len(body)) + body  # a frame as fillgap 3 sent it
    async with httpx.AsyncClient(headers=http.bearer(TOKEN)) as raw:
        answer = await raw.post(url + http.HELLO, content=old)
    assert answer.status_code == 409
    said = from_wire(decode_frame(answer.content)).message
    assert "version 3" in said and "4" in said, said
    with pytest.raises(VersionMismatch):  # and what an old client makes of our answer
        from_wire({**decode_frame(answer.content), "v": 5})


async def test_a_burst_scales_up_and_idle_scales_back_down(cluster) -> None:
    _, url, _ = cluster
    # Six slow fills queue on one replica until the second is up: on a CPU without bf16 units the
    # last of them waits over a minute (fp32, one thread each), so their deadline is the gather's.
    worker = client(url, model="burst", deadline_ms=170_000)
    assert len(replicas(await status(worker), "burst")) == 1
    burst = [asyncio.ensure_future(worker.fill(f"def h{i}(x):\n    ", "\n", [200], SLOW)) for i in range(6)]
    await until_async("a second burst replica", lambda: _running(worker, "burst", 2), timeout=90, every=0.5)
    done = await asyncio.wait_for(asyncio.gather(*burst), 180)
    assert all(r.candidates for r in done)
    await until_async("back to one replica when idle", lambda: _running(worker, "burst", 1), timeout=90, every=0.5)
    await worker.close()


async def _running(worker: WorkerClient, model: str, n: int) -> bool:
    m = next(m for m in (await status(worker)).models if m.name == model)
    return m.running == n and m.target == n


async def test_a_rolling_update_drops_no_fill(cluster) -> None:
    """A changed setting (here the batch size; a new checkpoint is the same) rolls out while fills
    keep coming: every fill is answered, and the replicas that answer at the end are new ones."""
    ray_cluster, url, config = cluster
    worker = client(url)
    old = set(replicas(await status(worker), "small"))
    config.write_text(config.read_text().replace("threads = 1\nhealth", "threads = 1\nmax_batch_rows = 32\nhealth", 1))
    rolling = asyncio.ensure_future(asyncio.to_thread(cluster_up, ray_cluster, config))
    answered = 0
    while not rolling.done():
        result = await worker.fill(f"def r{answered}(x):\n    ", "\n", [16], SamplerSettings())
        assert result.candidates
        answered += 1
    await rolling
    new = await until_async("two new replicas", lambda: _replaced(worker, old), timeout=60)
    print(f"rolling update: {answered} fills answered during it, none dropped; replicas {sorted(old)} -> {sorted(new)}")
    await worker.close()


async def _replaced(worker: WorkerClient, old: set[int]) -> set[int] | None:
    now = set(replicas(await status(worker), "small"))
    return now if len(now) == 2 and not now & old else None


async def test_cluster_down_deletes_the_deployment(cluster) -> None:
    """Last: the operator takes the models down; a server then gets a clear refusal, not a hang."""
    ray_cluster, url, _ = cluster
    down = [sys.executable, "-m", "lsp.cli", "cluster", "--address", ray_cluster.address, "down"]
    done = subprocess.run(down, env=ray_cluster.env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    with pytest.raises(WorkerUnavailable, match=url):
        await client(url).ensure_started()
