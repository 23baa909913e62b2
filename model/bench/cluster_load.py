"""The cluster under sustained load: fills/s and latency against 1 and 2 replicas of the shipped
model with the same threads in all, from a second process, in one run.

A loopback-only Ray cluster (model/cluster/local.py) serves the model as one replica of `--threads`
torch threads, then (a rolling update) as `--threads` replicas of one thread each, then as one
replica of one thread (the control). For each layout a
driver process (`drive`) keeps `--clients` fills in flight through the gateway for `--seconds`
(a closed loop: each client sends its next gap, from held-out stdlib code, when the last is
answered) and reports fills/s over the window, p50/p95 latency (send to answer), and how the fills
were spread over the replicas (their served counts from the cluster's status). On two cores expect
no throughput gain from a second replica: the point is spread and recovery. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from model.bench.concurrency import held_out_gaps
from model.cluster.local import LocalCluster, free_port
from model.wire import http
from model.wire.protocol import (
    ClusterStatus,
    FillRequest,
    FillResult,
    SamplerSettings,
    StatusRequest,
    decode_frame,
    encode_frame,
    from_wire,
)
from model.wire.stats import percentile

CONFIG = """
http_host = "127.0.0.1"
http_port = {port}
token_file = "{token_file}"

[[models]]
name = "small"
min_replicas = {replicas}
max_replicas = {replicas}
num_cpus = {threads}
threads = {threads}
"""


def _post(client: httpx.Client, url: str, msg: object) -> object:
    return from_wire(decode_frame(client.post(url, content=encode_frame(msg)).content))


def drive(url: str, token: str, seconds: float, clients: int, budget: int) -> dict[str, Any]:
    """Keep `clients` fills in flight for `seconds`; the window's fills/s and latencies."""
    gaps = held_out_gaps(clients * 200, seed=1)
    headers = {"content-type": http.CONTENT_TYPE, **http.bearer(token)}
    latencies: list[float] = []
    failed = [0]
    lock = threading.Lock()
    warm = threading.Event()

    def client(k: int) -> None:
        with httpx.Client(headers=headers, timeout=120) as c:
            i = k
            warm.wait()
            while time.monotonic() < stop_at:
                gap = gaps[i % len(gaps)]
                i += clients
                req = FillRequest(id=i, prefix=gap.prefix, suffix=gap.suffix, budgets=[budget],
                                  sampler=SamplerSettings(), deadline_ms=60_000)  # fmt: skip
                sent = time.monotonic()
                answer = _post(c, url + http.FILL, req)
                with lock:
                    if isinstance(answer, FillResult):
                        latencies.append((time.monotonic() - sent) * 1000)
                    else:
                        failed[0] += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    with httpx.Client(headers=headers, timeout=120) as c:  # the replicas' first fills are not timed
        for gap in gaps[:4]:
            _post(c, url + http.FILL, FillRequest(id=0, prefix=gap.prefix, suffix=gap.suffix, budgets=[budget]))
    start = time.monotonic()
    stop_at = start + seconds
    warm.set()
    for t in threads:
        t.join()
    window = time.monotonic() - start
    with httpx.Client(headers=headers, timeout=30) as c:
        st = _post(c, url + http.STATUS, StatusRequest())
    assert isinstance(st, ClusterStatus)
    spread = {r.replica: r.served for m in st.models for r in m.replicas}
    return {
        "fills": len(latencies), "failed": failed[0], "window_s": round(window, 1),
        "fills_s": round(len(latencies) / window, 2), "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95), "served_per_replica": spread,
    }  # fmt: skip


def _layout(ray: LocalCluster, folder: Path, replicas: int, threads: int, port: int) -> None:
    config = folder / f"cluster-{replicas}.toml"
    config.write_text(CONFIG.format(port=port, token_file=folder / "token", replicas=replicas, threads=threads))
    up = [sys.executable, "-m", "lsp.cli", "cluster", "--address", ray.address, "up", "--config", str(config)]
    subprocess.run(up, env=ray.env, check=True, capture_output=True, timeout=600)


def run(seconds: float, clients: int, threads: int, budget: int) -> dict[str, Any]:
    token = os.urandom(12).hex()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, LocalCluster(cpus=max(threads, 2) * 2) as ray:
        folder = Path(tmp)
        (folder / "token").write_text(token)
        port = free_port()
        url = f"http://127.0.0.1:{port}/fillgap"
        # The control, one replica of one thread, tells what the other threads bought at all.
        for replicas, each in ((1, threads), (threads, 1), (1, 1))[: 3 if threads > 1 else 1]:
            _layout(ray, folder, replicas, each, port)
            out = folder / f"drive-{replicas}.json"
            cmd = [sys.executable, "-m", "model.bench.cluster_load", "drive", "--url", url, "--seconds", str(seconds),
                   "--clients", str(clients), "--budget", str(budget), "--json", str(out)]  # fmt: skip
            subprocess.run(cmd, env={**ray.env, "FILLGAP_TOKEN": token}, check=True, timeout=seconds + 600)
            rows.append({"replicas": replicas, "threads_per_replica": each, **json.loads(out.read_text())})
    return {"clients": clients, "seconds": seconds, "budget": budget, "layouts": rows}


def describe(row: dict[str, Any]) -> str:
    """One layout's line, e.g. "2 replicas x 1 thread: 8.46 fills/s, p50 473 ms, p95 548 ms, spread 32/33"."""
    spread = "/".join(str(n) for n in row["served_per_replica"].values())
    p50, p95 = (f"{row[k]:.0f} ms" if row[k] is not None else "-" for k in ("p50_ms", "p95_ms"))
    return (
        f"{row['replicas']} replica(s) x {row['threads_per_replica']} thread(s): {row['fills_s']} fills/s, "
        f"p50 {p50}, p95 {p95}, fills per replica {spread}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model.bench.cluster_load", description=__doc__.splitlines()[0])
    p.add_argument("action", nargs="?", default="run", choices=("run", "drive"))
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--clients", type=int, default=4, help="fills kept in flight")
    p.add_argument("--threads", type=int, default=2, help="torch threads in all, in each layout")
    p.add_argument("--budget", type=int, default=32, help="gap tokens per fill")
    p.add_argument("--url", default=None, help="drive: the cluster's address")
    p.add_argument("--json", type=Path, default=None)
    ns = p.parse_args(argv)
    if ns.action == "drive":
        result = drive(ns.url, os.environ["FILLGAP_TOKEN"], ns.seconds, ns.clients, ns.budget)
    else:
        result = run(ns.seconds, ns.clients, ns.threads, ns.budget)
        result["command"] = "python -m model.bench.cluster_load " + " ".join(argv if argv is not None else sys.argv[1:])
        for row in result["layouts"]:
            print(describe(row))
    if ns.json:
        ns.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
