"""Concurrency: fills/s, tokens/s and latency with 1, 4, 16 documents on one worker.

One real worker daemon (its own process, on a private socket), and N client threads, one per
open document, each sending its next fill as soon as the last is answered (a closed loop: what N
editors asking at once look like to the worker). Every fill is a gap in real held-out code.
Reported per level: fills/s and gap tokens/s over the measured window (fills sent in it, up to
the last one's answer), p50/p95 latency (send to answer, nearest rank), and the rows per forward
pass the worker ran (how much continuous batching happened).
`sequential` repeats the top level with one fill at a time (a batch of one request's rows), the
worker as it was before continuous batching. Times are never asserted; machines are noisy.
"""

from __future__ import annotations

import os
import random
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from model.wire.client import Connection, connect, wait_listening
from model.wire.endpoint import Address
from model.wire.options import WorkerOptions, add_model_arguments, worker_command
from model.wire.protocol import FillRequest, FillResult, SamplerSettings, WorkerStatus
from model.wire.stats import percentile


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


def _connect(path: Path) -> Connection:
    return connect(Address("unix", path=str(path)), timeout=None)  # a fill at 16 documents may take long


def _status(path: Path) -> WorkerStatus:
    with _connect(path) as conn:
        return conn.status()


def start_worker(
    folder: Path, model: str | None, device: str, threads: int, max_rows: int
) -> tuple[subprocess.Popen[bytes], Path]:
    path = folder / f"bench-{max_rows}.sock"
    options = WorkerOptions(model, device, threads, listen=(f"unix://{path}",), max_batch_rows=max_rows)
    proc = subprocess.Popen(worker_command(options), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(Address("unix", path=str(path)), 300, gone=lambda: proc.poll() is not None)
    except (TimeoutError, RuntimeError) as exc:
        status = proc.poll()
        proc.kill()
        proc.wait()
        raise RuntimeError(f"bench worker did not start (status {status})") from exc
    return proc, path


def run_level(path: Path, docs: int, gaps: list[Gap], budget: int, sampler: SamplerSettings, seconds: float) -> dict:
    """`docs` clients fill in a closed loop (after each sends one warm-up fill) until `seconds` have
    passed; each finishes the fill it has in flight, and every fill sent in the window counts, over
    the time to the last answer. So every level counts at least one fill per client, however slow
    the machine (a fill longer than the window used to leave a level with none)."""
    latencies: list[float] = []
    guard = threading.Lock()
    window = [0.0, 0.0, 0.0]  # start, stop sending, last answer
    before: list[WorkerStatus] = []

    def go() -> None:  # run once, when every client has had its warm-up answered
        before.append(_status(path))
        window[0] = window[2] = time.monotonic()
        window[1] = window[0] + seconds

    start_line = threading.Barrier(docs + 1, action=go)

    # No deadline_ms (0: none): a fill given up at a deadline would vanish from the latencies measured.
    def client(k: int) -> None:
        with _connect(path) as conn:
            conn.fill(FillRequest(id=0, prefix=gaps[k].prefix, suffix=gaps[k].suffix, budgets=[budget]))  # warm-up
            start_line.wait()
            i = 0
            while time.monotonic() < window[1]:
                gap = gaps[(k * 7919 + i) % len(gaps)]
                t0 = time.monotonic()
                req = FillRequest(id=i + 1, prefix=gap.prefix, suffix=gap.suffix, budgets=[budget], sampler=sampler)
                reply = conn.fill(req)
                done = time.monotonic()
                if isinstance(reply, FillResult):
                    with guard:
                        latencies.append(done - t0)
                        window[2] = max(window[2], done)
                i += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(docs)]
    for t in threads:
        t.start()
    start_line.wait()
    for t in threads:
        t.join()
    after, first = _status(path), before[0]
    passes = after.forward_passes - first.forward_passes
    elapsed = max(window[2] - window[0], 1e-9)
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)  # nearest rank; None with no fills
    return {
        "documents": docs,
        "fills": len(latencies),
        "fills_s": len(latencies) / elapsed,
        "tokens_s": len(latencies) * budget / elapsed,
        "p50_ms": None if p50 is None else 1000 * p50,
        "p95_ms": None if p95 is None else 1000 * p95,
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
                    with _connect(path) as conn:
                        conn.shutdown()
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
    add_model_arguments(p)
    # One torch thread per worker unless asked: what concurrency() measures when fillgap bench runs it.
    p.set_defaults(threads=1)
    p.add_argument("--levels", default="1,4,16", help="concurrent documents")
    p.add_argument("--seconds", type=float, default=20.0, help="measured window per level")
    p.add_argument("--budget", type=int, default=32, help="gap tokens per fill")
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
