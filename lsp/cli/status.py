"""`fillgap status`: ask running workers for their counters (through `model.wire.client`).

Without an address it asks every shared daemon of this user (each socket in the runtime folder);
`--address` asks one worker, local or remote (token from --token-file or $FILLGAP_TOKEN).
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
from model.wire.protocol import WorkerStatus

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


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--address", default=None, help="unix:///PATH or tcp://HOST:PORT (default: this user's daemons)")
    p.add_argument("--token-file", default=None, help="for tcp:// (else $FILLGAP_TOKEN)")
    p.add_argument("--json", action="store_true", help="one JSON object per worker")
    p.add_argument("--shutdown", action="store_true", help="stop the worker(s) instead")


def run(ns: argparse.Namespace) -> int:
    try:
        token = read_token(ns.token_file)
        addresses = (
            [parse_address(ns.address)]
            if ns.address
            else [Address("unix", path=str(path)) for path in local_sockets()]
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
