"""The one script a GPU session runs: the CUDA checks of the hub-families issue and of the
DiffusionGemma issue, then the DiffusionGemma benchmark, under one global timeout.

    PYTHONUNBUFFERED=1 python3 -m tests.cuda.device_run --out $OUT

From the repository root, with the device's own torch (never `pip install -e .` there) and a
transformers that has DiffusionGemma on PYTHONPATH (tests/cuda/README.md: the exact `run` call,
which carries the wheel). Each section is a child process with its own time limit, and writes
its files as it goes, so a section cut short still leaves what it measured:

1. hub families: `python -m tests.cuda.check --out OUT/hub` (cuda-check.json/.log, bench-decode-*.json)
2. block diffusion: `python -m tests.cuda.block_check --out OUT/block` (block-check.json)
   1 and 2 together get CHECKS_S (3 minutes); 2 gets what 1 left.
3. the benchmark: `python -m model.bench.gemma_decode --out OUT/bench` (gemma-bench.json/.md),
   at most BENCH_S (6 minutes) and what is left of the global limit.

OUT/device-run.json says, per section, its exit code, seconds and whether it ran out of time:
8 files in all, the most the device tool brings back. A child past its limit gets SIGTERM (which
it turns into KeyboardInterrupt, so its `finally` writes its report), then SIGKILL, both to its
whole process group.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
GLOBAL_S = 530.0
CHECKS_S = 180.0
HUB_S = 130.0
BENCH_S = 360.0
GRACE_S = 10.0  # between SIGTERM and SIGKILL


def _child(module: str, args: list[str]) -> None:
    """Run `module` as __main__ with SIGTERM raising KeyboardInterrupt (its finally blocks run)."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}: out of time")

    signal.signal(signal.SIGTERM, interrupt)
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def section(name: str, module: str, args: list[str], limit_s: float) -> dict[str, Any]:
    """Run one section in a child, stopped after limit_s; what happened."""
    command = [sys.executable, "-m", "tests.cuda.device_run", "--child", module, *args]
    print(f"=== {name}: {module} {' '.join(args)} (at most {limit_s:.0f} s)", flush=True)
    started = time.monotonic()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # its own process group (not a new session), so its children (the hub check's bench runs) go with it
    proc = subprocess.Popen(command, cwd=REPO, env=env, process_group=0)
    timed_out = False
    try:
        rc = proc.wait(timeout=max(limit_s, 1.0))
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            rc = proc.wait(timeout=GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            rc = proc.wait()
    seconds = time.monotonic() - started
    print(f"=== {name}: exit {rc} after {seconds:.1f} s{' (out of time)' if timed_out else ''}", flush=True)
    return {"name": name, "module": module, "args": args, "rc": rc, "seconds": seconds, "timed_out": timed_out}


def plan(out: Path, device: str, bench_args: list[str]) -> list[tuple[str, str, list[str]]]:
    """The sections in order: (name, module, arguments)."""
    return [
        ("hub families", "tests.cuda.check", ["--out", str(out / "hub"), "--device", device]),
        ("block diffusion", "tests.cuda.block_check", ["--out", str(out / "block"), "--device", device]),
        ("bench", "model.bench.gemma_decode", ["--out", str(out / "bench"), "--device", device, *bench_args]),
    ]


def run(out: Path, device: str, bench_args: list[str], limits: dict[str, float], skip: set[str]) -> dict[str, Any]:
    """Every section not in `skip`, within the limits; OUT/device-run.json after each."""
    out.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + limits["global"]
    checks_end = time.monotonic() + limits["checks"]
    summary: dict[str, Any] = {"device": device, "limits": limits, "sections": []}
    for name, module, args in plan(out, device, bench_args):
        if name in skip:
            continue
        left = deadline - time.monotonic()
        if name == "hub families":
            limit = min(limits["hub"], checks_end - time.monotonic(), left)
        elif name == "block diffusion":
            limit = min(checks_end - time.monotonic(), left)
        else:  # the bench skips batch sizes that would not fit; building the model comes first
            limit = min(limits["bench"], left)
            args = [*args, "--budget-s", f"{max(limit - 60.0, 10.0):.0f}"]
        if limit < 5:
            summary["sections"].append({"name": name, "rc": None, "skipped": "no time left"})
            continue
        summary["sections"].append(section(name, module, args, limit))
        (out / "device-run.json").write_text(json.dumps(summary, indent=2) + "\n")
    summary["ok"] = all(s.get("rc") == 0 for s in summary["sections"])
    (out / "device-run.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        _child(argv[1], argv[2:])
        return 0
    p = argparse.ArgumentParser(prog="python -m tests.cuda.device_run", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--device", default="cuda")
    p.add_argument("--global-s", type=float, default=GLOBAL_S, help="all sections together")
    p.add_argument("--checks-s", type=float, default=CHECKS_S, help="both CUDA checks together")
    p.add_argument("--bench-s", type=float, default=BENCH_S)
    p.add_argument("--skip", default="", help="comma-separated section names to leave out")
    p.add_argument("--bench-args", default="", help="extra arguments for model.bench.gemma_decode, one string")
    ns = p.parse_args(argv)
    limits = {"global": ns.global_s, "checks": ns.checks_s, "hub": min(HUB_S, ns.checks_s), "bench": ns.bench_s}
    skip = {s.strip() for s in ns.skip.split(",") if s.strip()}
    summary = run(ns.out, ns.device, ns.bench_args.split(), limits, skip)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
