"""The block-diffusion CUDA check: a tiny random DiffusionGemma on one GPU, through our loader,
loop and engine (tests/cuda/block_checks.py has the steps).

Run it from the repository root on the GPU machine, with that machine's own torch and a
transformers that has DiffusionGemma (5.11 or later; tests/cuda/README.md says how to carry one):

    PYTHONUNBUFFERED=1 python3 -m tests.cuda.block_check --out DIR

It writes DIR/block-check.json (every step: ok, seconds, what it measured or its error; the log
goes to stderr) and exits 1 if any step failed, 2 without the device. `--device cpu` runs the
same steps on the CPU (tests/cuda/test_block_cuda.py does). Under a minute on an H200, most of
it building the folder and importing transformers.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import torch

from tests.cuda import block_checks, checks
from tests.cuda.check import Report, _environment

log = logging.getLogger("fillgap.cuda-check")


def _steps(report: Report, device: str, tmp: Path, fills: bool) -> None:
    built = report.step("gemma: build folder", lambda: block_checks.build_folder(tmp))
    if built is None:
        return
    folder = built[0]
    loaded = report.step(f"gemma: load on {device}", lambda: block_checks.load(folder, device))
    if loaded is None:
        return
    engine = loaded[0]
    report.step("gemma: attention through SDPA", lambda: block_checks.sdpa_runs(engine))
    n = 6 if device.startswith("cuda") else 1  # a 262k vocabulary makes a CPU step slow
    report.step("gemma: denoise on the device, same seed same canvas", lambda: block_checks.denoise(engine, n))
    bf16 = str(engine.loaded.dtype) == "torch.bfloat16"
    atol, rtol = (0.02, 0.02) if bf16 else (1e-4, 0.0)
    name = f"gemma: batched rows vs alone ({'bf16' if bf16 else 'fp32'})"
    report.step(name, lambda: block_checks.batched_vs_alone(engine, atol, rtol))
    if fills:  # minutes on a CPU (48 steps a canvas over 262k logits); tests/model/gemma covers them there
        for req in block_checks.fills(0):
            report.step(f"gemma: engine fill {req.id}", lambda req=req: checks.fill(engine, req))
        report.step("gemma: batcher, 3 at once", lambda: block_checks.batched(engine, block_checks.fills(1)))
    if device.startswith("cuda"):  # the 1e-4 the issue asks of batched rows, in float32 on the device
        del engine, loaded
        fp32 = report.step("gemma: load in float32", lambda: block_checks.load(folder, device, "float32"))
        if fp32 is not None:
            step = "gemma: batched rows vs alone (fp32)"
            report.step(step, lambda: block_checks.batched_vs_alone(fp32[0], 1e-4, 0.0))


def run(out: Path, device: str = "cuda", fills: bool = True) -> bool:
    """Every step (`fills`: the engine's fills too); DIR/block-check.json written (also when a
    step fails); True if all passed."""
    out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    report, started, env = Report(device), time.perf_counter(), _environment(device)
    env["transformers"] = _transformers_version()
    log.info("environment %s", json.dumps(env))
    try:
        with tempfile.TemporaryDirectory(prefix="fg-block-") as tmp:
            _steps(report, device, Path(tmp), fills)
    finally:
        summary: dict[str, Any] = {"ok": report.ok, "seconds": time.perf_counter() - started, "environment": env}
        (out / "block-check.json").write_text(json.dumps({**summary, "steps": report.steps}, indent=2) + "\n")
        failed = [s["name"] for s in report.steps if not s["ok"]]
        log.info("%s: %d steps, %d failed %s", "PASS" if report.ok else "FAIL", len(report.steps), len(failed), failed)
        alive = [t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
        if alive:
            log.info("threads still running: %s", alive)
    return report.ok


def _transformers_version() -> str | None:
    try:
        import transformers
    except ImportError:
        return None
    return str(transformers.__version__)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.cuda.block_check", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="folder for block-check.json")
    p.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu for a dry run")
    p.add_argument("--no-fills", action="store_true", help="leave out the engine's fills (minutes on a CPU)")
    ns = p.parse_args(argv)
    if ns.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"no CUDA device here (torch {torch.__version__}); nothing checked", file=sys.stderr)
        return 2
    return 0 if run(ns.out, ns.device, fills=not ns.no_fills) else 1


if __name__ == "__main__":
    raise SystemExit(main())
