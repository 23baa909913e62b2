"""`fillgap status`: ask running workers for their counters (blocking sockets; no event loop).

Without an address it asks every shared daemon of this user (each socket in the runtime folder);
`--address` asks one worker, local or remote (token from --token-file or $FILLGAP_TOKEN).
`--shutdown` stops them instead.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from dataclasses import asdict
from pathlib import Path

from model.wire.endpoint import Address, EndpointError, check_own_socket, parse_address, read_token, runtime_dir
from model.wire.protocol import ErrorReply, Hello, Ready, Shutdown, StatusRequest, WorkerStatus, encode_frame, from_wire
from model.wire.protocol import read_frame as _read_frame


def _open(address: Address, timeout: float) -> socket.socket:
    if address.scheme == "unix":
        check_own_socket(Path(address.path))
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(address.path)
        return s
    return socket.create_connection((address.host, address.port), timeout=timeout)


def _converse(address: Address, token: str | None, msg: object, timeout: float) -> object:
    """Hello, then one message; its answer (None for shutdown, which has none)."""
    with _open(address, timeout) as s, s.makefile("rb") as stream:
        s.sendall(encode_frame(Hello(token=token or "")))
        ready = from_wire(_read_frame(stream))
        if isinstance(ready, ErrorReply):
            raise ConnectionRefusedError(ready.message)
        if not isinstance(ready, Ready):
            raise ConnectionError(f"expected ready, got {type(ready).__name__}")
        s.sendall(encode_frame(msg))
        if isinstance(msg, Shutdown):
            return None
        return from_wire(_read_frame(stream))


def query(address: Address, token: str | None = None, timeout: float = 5.0) -> WorkerStatus:
    reply = _converse(address, token, StatusRequest(id=1), timeout)
    if not isinstance(reply, WorkerStatus):
        raise ConnectionError(f"status answered with {type(reply).__name__}")
    return reply


def shutdown(address: Address, token: str | None = None, timeout: float = 5.0) -> None:
    _converse(address, token, Shutdown(), timeout)


def local_sockets(folder: Path | None = None) -> list[Path]:
    return sorted((folder or runtime_dir()).glob("worker-*.sock"))


def _print(address: Address, st: WorkerStatus) -> None:
    print(f"{address}")
    print(f"  model    {st.model} on {st.device} ({st.backend}), pid {st.pid}, up {st.uptime_s:.0f}s")
    print(f"  queue    {st.queued} waiting, {st.running} running, {st.connections} connections")
    print(f"  served   {st.served} (cancelled {st.cancelled}, failed {st.failed})")
    print(f"  latency  p50 {st.p50_ms:.0f} ms, p95 {st.p95_ms:.0f} ms")
    splits = f", {st.oom_splits} split for memory" if st.oom_splits else ""
    print(f"  batches  {st.forward_passes} forward passes, {st.mean_batch_rows:.1f} rows each on average{splits}")
    print(f"  memory   {st.rss_mb:.0f} MB resident" + (f", {st.gpu_mb:.0f} MB GPU" if st.gpu_mb else ""))


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="fillgap status", description="Counters of running fillgap workers.")
    p.add_argument("--address", default=None, help="unix:///PATH or tcp://HOST:PORT (default: this user's daemons)")
    p.add_argument("--token-file", default=None, help="for tcp:// (else $FILLGAP_TOKEN)")
    p.add_argument("--json", action="store_true", help="one JSON object per worker")
    p.add_argument("--shutdown", action="store_true", help="stop the worker(s) instead")
    ns = p.parse_args(argv)
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
