"""Concurrency: fills/s, tokens/s and latency with 1, 4, 16 documents on one worker.

One real worker daemon (its own process, on a private socket), and N client threads, one per
open document, each sending its next fill as soon as the last is answered (a closed loop: what N
editors asking at once look like to the worker). Every fill is a gap in real held-out code.
Reported per level: fills/s and gap tokens/s over the measured window, p50/p95 latency (send to
answer), and the rows per forward pass the worker ran (how much continuous batching happened).
`sequential` repeats the top level with one fill at a time (a batch of one request's rows), the
worker as it was before continuous batching. Times are never asserted; machines are noisy.
"""

from __future__ import annotations

import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from model.wire.protocol import (
    FillRequest,
    FillResult,
    Hello,
    Ready,
    SamplerSettings,
    Shutdown,
    StatusRequest,
    WorkerStatus,
    encode_frame,
    from_wire,
    read_frame,
)


@dataclass
class Gap:
    prefix: str
    suffix: str


def held_out_gaps(count: int, seed: int = 0) -> list[Gap]:
    """Gaps at line starts of held-out standard-library files (never trained on)."""
    from model.train.corpus import collect, split, stdlib_dir

    _, held = split(collect(stdlib_dir()))
    rng = random.Random(seed)
    gaps = []
    while len(gaps) < count:
        text = rng.choice(held).text
        starts = [i + 1 for i, ch in enumerate(text) if ch == "\n"]
        if len(starts) < 4:
            continue
        at = rng.choice(starts[1:-2])
        end = text.find("\n", at)
        gaps.append(Gap(text[:at], text[end:]))
    return gaps


class _Conn:
    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(path))
        self.stream = self.sock.makefile("rb")
        self.send(Hello())
        if not isinstance(self.recv(), Ready):
            raise RuntimeError("the worker did not say ready")

    def send(self, msg: object) -> None:
        self.sock.sendall(encode_frame(msg))

    def recv(self) -> object:
        return from_wire(read_frame(self.stream))

    def close(self) -> None:
        self.stream.close()
        self.sock.close()


def _status(path: Path) -> WorkerStatus:
    c = _Conn(path)
    try:
        c.send(StatusRequest(id=1))
        st = c.recv()
        assert isinstance(st, WorkerStatus)
        return st
    finally:
        c.close()


def start_worker(
    folder: Path, model: str | None, device: str, threads: int, max_rows: int
) -> tuple[subprocess.Popen[bytes], Path]:
    path = folder / f"bench-{max_rows}.sock"
    cmd = [sys.executable, "-m", "model.serve.worker", "--listen", f"unix://{path}", "--device", device]
    cmd += ["--threads", str(threads), "--max-batch-rows", str(max_rows)]
    if model:
        cmd += ["--model", model]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    until = time.monotonic() + 300
    while True:
        try:
            _Conn(path).close()
            return proc, path
        except OSError:
            if proc.poll() is not None or time.monotonic() > until:
                raise RuntimeError(f"bench worker did not start (status {proc.poll()})") from None
            time.sleep(0.1)


def run_level(path: Path, docs: int, gaps: list[Gap], budget: int, sampler: SamplerSettings, seconds: float) -> dict:
    """`docs` clients fill in a closed loop for `seconds` (after each sends one warm-up fill)."""
    latencies: list[float] = []
    guard = threading.Lock()
    stop_at = [0.0]
    before: list[WorkerStatus] = []

    def go() -> None:  # run once, when every client has had its warm-up answered
        before.append(_status(path))
        stop_at[0] = time.monotonic() + seconds

    start_line = threading.Barrier(docs + 1, action=go)

    def client(k: int) -> None:
        conn = _Conn(path)
        try:
            conn.send(FillRequest(id=0, prefix=gaps[k].prefix, suffix=gaps[k].suffix, budgets=[budget]))
            conn.recv()  # warm-up, not counted
            start_line.wait()
            i = 0
            while time.monotonic() < stop_at[0]:
                gap = gaps[(k * 7919 + i) % len(gaps)]
                t0 = time.monotonic()
                conn.send(
                    FillRequest(id=i + 1, prefix=gap.prefix, suffix=gap.suffix, budgets=[budget], sampler=sampler)
                )
                reply = conn.recv()
                if isinstance(reply, FillResult) and time.monotonic() <= stop_at[0]:
                    with guard:
                        latencies.append(time.monotonic() - t0)
                i += 1
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(docs)]
    for t in threads:
        t.start()
    start_line.wait()
    for t in threads:
        t.join()
    after, first = _status(path), before[0]
    passes = after.forward_passes - first.forward_passes
    ordered = sorted(latencies)
    return {
        "documents": docs,
        "fills": len(latencies),
        "fills_s": len(latencies) / seconds,
        "tokens_s": len(latencies) * budget / seconds,
        "p50_ms": 1000 * statistics.median(ordered) if ordered else None,
        "p95_ms": 1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else None,
        "rows_per_pass": round((after.rows - first.rows) / max(passes, 1), 2),
        "worker_rss_mb": after.rss_mb,
    }


def concurrency(
    model: str | None = None,
    device: str = "cpu",
    levels: tuple[int, ...] = (1, 4, 16),
    seconds: float = 20.0,
    budget: int = 32,
    sampler: SamplerSettings | None = None,
    threads: int = 1,
    sequential: bool = True,
) -> list[dict]:
    """Rows for each level on one batching worker, and the top level again without batching."""
    sampler = sampler or SamplerSettings()
    gaps = held_out_gaps(max(64, 4 * max(levels)))
    rows = []
    with tempfile.TemporaryDirectory(prefix="fg-bench-") as tmp:
        folder = Path(tmp)
        folder.chmod(0o700)
        setups = [("continuous batching", 64, levels)]
        if sequential:
            setups.append(("sequential", 1, (max(levels),)))
        for name, max_rows, wanted in setups:
            proc, path = start_worker(folder, model, device, threads, max_rows)
            try:
                for docs in wanted:
                    rows.append({"worker": name, **run_level(path, docs, gaps, budget, sampler, seconds)})
                    _print_row(rows[-1])
            finally:
                try:
                    c = _Conn(path)
                    c.send(Shutdown())
                    c.close()
                    proc.wait(timeout=30)
                except (OSError, subprocess.TimeoutExpired):
                    proc.kill()
                    proc.wait()
    return rows


def _print_row(r: dict) -> None:
    p50 = f"{r['p50_ms']:.0f}" if r["p50_ms"] is not None else "-"
    p95 = f"{r['p95_ms']:.0f}" if r["p95_ms"] is not None else "-"
    print(
        f"{r['worker']:<20} {r['documents']:>4} docs  {r['fills_s']:>6.2f} fills/s  {r['tokens_s']:>7.1f} tok/s  "
        f"p50 {p50:>6} ms  p95 {p95:>6} ms  {r['rows_per_pass']:>5.1f} rows/pass",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json
    import platform

    p = argparse.ArgumentParser(prog="python -m model.bench.concurrency", description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--levels", default="1,4,16", help="concurrent documents")
    p.add_argument("--seconds", type=float, default=20.0, help="measured window per level")
    p.add_argument("--budget", type=int, default=32, help="gap tokens per fill")
    p.add_argument("--threads", type=int, default=1, help="the worker's torch threads")
    p.add_argument("--no-sequential", action="store_true", help="skip the one-fill-at-a-time reference")
    p.add_argument("--json", type=Path, default=None)
    ns = p.parse_args(argv)
    levels = tuple(int(x) for x in ns.levels.split(","))
    rows = concurrency(ns.model, ns.device, levels, ns.seconds, ns.budget, None, ns.threads, not ns.no_sequential)
    if ns.json:
        meta = {
            "machine": platform.platform(),
            "cpus": os.cpu_count(),
            "device": ns.device,
            "model": ns.model or "fillgap-small",
            "threads": ns.threads,
            "seconds": ns.seconds,
            "budget": ns.budget,
            "sampler": "default (8 steps, 2 refine rounds)",
        }
        ns.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
