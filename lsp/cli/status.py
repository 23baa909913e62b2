"""`fillgap status`: ask running workers for their counters (through `model.wire.client`).

Without an address it asks every shared daemon of this user (each socket in the runtime folder);
`--address` asks one worker, local or remote (token from --token-file or $FILLGAP_TOKEN), or a
cluster (http(s)://): each model's replicas, where each runs, its queue, latency and memory.
`--shutdown` stops them instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from model.wire.client import query, shutdown
from model.wire.endpoint import Address, EndpointError, parse_address, read_token, runtime_dir
from model.wire.protocol import ClusterStatus, WorkerStatus

__all__ = ["add_arguments", "local_sockets", "query", "run", "shutdown"]


def local_sockets(folder: Path | None = None) -> list[Path]:
    return sorted((folder or runtime_dir()).glob("worker-*.sock"))


def _weights(st: WorkerStatus) -> str:
    """e.g. "diffusion_gemma, bfloat16, 128 experts (top 8), canvas 256 tokens"."""
    parts = [st.family or "unknown family"]
    parts += [st.dtype] if st.dtype else []
    parts += [f"{st.experts} experts (top {st.experts_active})"] if st.experts else []
    parts += [f"canvas {st.canvas_tokens} tokens"] if st.canvas_tokens else []
    return ", ".join(parts)


def _print(address: Address, st: WorkerStatus) -> None:
    print(f"{address}")
    print(f"  model    {st.model} on {st.device} ({st.backend}), pid {st.pid}, up {st.uptime_s:.0f}s")
    if st.family or st.dtype:
        print(f"  weights  {_weights(st)}")
    print(f"  queue    {st.queued} waiting, {st.running} running, {st.connections} connections")
    print(f"  served   {st.served} (cancelled {st.cancelled}, failed {st.failed})")
    print(f"  latency  p50 {st.p50_ms:.0f} ms, p95 {st.p95_ms:.0f} ms")
    splits = f", {st.oom_splits} split for memory" if st.oom_splits else ""
    print(f"  batches  {st.forward_passes} forward passes, {st.mean_batch_rows:.1f} rows each on average{splits}")
    print(f"  memory   {st.rss_mb:.0f} MB resident" + (f", {st.gpu_mb:.0f} MB GPU" if st.gpu_mb else ""))


def _replica_lines(r: WorkerStatus) -> list[str]:
    gpu = f", {r.gpu_mb:.0f} MB GPU" if r.gpu_mb else ""
    where = f"replica {r.replica} on {r.node}, pid {r.pid}, {r.device} ({r.dtype or r.backend}), up {r.uptime_s:.0f}s"
    queue = f"queue {r.queued} waiting, {r.running} running"
    served = f"served {r.served} (cancelled {r.cancelled}, failed {r.failed})"
    latency = f"p50 {r.p50_ms:.0f} ms, p95 {r.p95_ms:.0f} ms; {r.rss_mb:.0f} MB resident{gpu}"
    return [f"    {where}", f"      {queue}; {served}; {latency}"]


def _print_cluster(url: str, st: ClusterStatus) -> None:
    print(url)
    for m in st.models:
        print(f"  {m.name}: {m.state}, {m.running} of {m.target} replicas running")
        for r in m.replicas:
            print("\n".join(_replica_lines(r)))


def _cluster(ns: argparse.Namespace, token: str | None) -> int:
    if ns.shutdown:
        print("fillgap status: a cluster is taken down by its operator: fillgap cluster down", file=sys.stderr)
        return 2
    from lsp.worker.cluster import cluster_status  # httpx only when asking a cluster

    try:
        st = cluster_status(ns.address, token)
    except ConnectionError as exc:
        print(f"fillgap status: {exc}", file=sys.stderr)
        return 1
    if ns.json:
        print(json.dumps({"address": ns.address, **asdict(st)}))
    else:
        _print_cluster(ns.address, st)
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--address",
        default=None,
        help="unix:///PATH, tcp://HOST:PORT or a cluster's http(s)://HOST:PORT/fillgap (default: this user's daemons)",
    )
    p.add_argument("--token-file", default=None, help="for tcp:// and http(s):// (else $FILLGAP_TOKEN)")
    p.add_argument("--json", action="store_true", help="one JSON object per worker")
    p.add_argument("--shutdown", action="store_true", help="stop the worker(s) instead")


def run(ns: argparse.Namespace) -> int:
    try:
        token = read_token(ns.token_file)
        if ns.address and ns.address.startswith(("http://", "https://")):
            return _cluster(ns, token)
        addresses = (
            [parse_address(ns.address)] if ns.address else [Address("unix", path=str(path)) for path in local_sockets()]
        )
    except (EndpointError, OSError) as exc:
        print(f"fillgap status: {exc}", file=sys.stderr)
        return 2
    if not addresses:
        print(f"no fillgap worker is running (none in {runtime_dir()})")
        return 1
    failed = 0
    for address in addresses:
        try:
            if ns.shutdown:
                shutdown(address, token)
                print(f"{address}: asked to shut down")
                continue
            st = query(address, token)
        except (OSError, EndpointError, ValueError) as exc:
            failed += 1
            print(f"{address}: not answering ({exc})", file=sys.stderr)
            continue
        if ns.json:
            print(json.dumps({"address": str(address), **asdict(st)}))
        else:
            _print(address, st)
    return 1 if failed == len(addresses) else 0
