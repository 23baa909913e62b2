"""The CUDA check: fills on one GPU, through the engine alone and through the batcher.

Run it from the repository root on the GPU machine, with that machine's own Python and torch:

    PYTHONUNBUFFERED=1 python3 -m tests.cuda.check --out DIR

No install is needed: run from the root, `model` imports from the tree. It needs torch (a CUDA
build), numpy, safetensors, tokenizers and msgpack; where one is missing,
`python3 -m pip install numpy safetensors tokenizers msgpack` (or carry them as wheels), and
never `pip install -e .` there (it would pull a CPU torch over the machine's CUDA one). It writes
DIR/cuda-check.json (every step: ok, seconds, what it measured or its error) and DIR/cuda-check.log,
and exits 1 if any step failed (2 if the device is not there). On an H200 the whole run takes
about a minute or two; most of it is building, saving and loading the ~0.5B checkpoint.

Steps, for a tiny and a ~0.5B random checkpoint (Qwen2-0.5B shapes, bf16): build it, load it on
the device, run `infill` straight through the sampler paths (temperature 0 and 0.8, dual cache on
and off, random order, blocks, a threshold) checking each output's device and id range, the same
seed twice, then fills through the engine (with two revisions and a joint fill), then 4 fills at
once through one Batcher; on the tiny one, flash-attn against SDPA if flash_attn imports. Then
`python -m model.bench.decode --device cuda` on random models of both sizes (DIR/bench-decode-*.json).
`--device cpu --sizes tiny` runs the same steps on the CPU (tests/cuda/test_cuda.py does).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from tests.cuda import checks

log = logging.getLogger("fillgap.cuda-check")
BENCH = (("tiny", "16,64", 64), ("0.5b", "64", 256))  # random model size, gaps, context tokens each side


class Report:
    def __init__(self, device: str) -> None:
        self.device = device
        self.steps: list[dict[str, Any]] = []

    def step(self, name: str, fn: Callable[[], Any]) -> Any:
        """fn's answer, timed (device work included); a failure is recorded and answers None."""
        self._sync()
        start = time.perf_counter()
        try:
            got = fn()
        except Exception as exc:
            seconds = time.perf_counter() - start
            log.error("FAIL %s (%.2f s): %s\n%s", name, seconds, exc, traceback.format_exc())
            self.steps.append({"name": name, "ok": False, "seconds": seconds, "error": f"{type(exc).__name__}: {exc}"})
            return None
        self._sync()
        seconds = time.perf_counter() - start
        detail = got[1] if isinstance(got, tuple) else got
        log.info("ok   %s (%.2f s) %s", name, seconds, json.dumps(detail, default=str))
        self.steps.append({"name": name, "ok": True, "seconds": seconds, "detail": detail})
        return got

    def _sync(self) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()

    @property
    def ok(self) -> bool:
        return all(s["ok"] for s in self.steps)


def _environment(device: str) -> dict[str, Any]:
    env: dict[str, Any] = {
        "python": sys.version.split()[0],
        "machine": platform.platform(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device": device,
    }
    if device.startswith("cuda"):
        env["gpu"] = torch.cuda.get_device_name(torch.device(device))
    try:
        import flash_attn

        env["flash_attn"] = flash_attn.__version__
    except ImportError:
        env["flash_attn"] = None
    return env


def check_size(report: Report, size: str, device: str, work: Path, tok: Any, window: int) -> None:
    folder = work / size
    built = report.step(f"{size}: build", lambda: checks.build_checkpoint(size, folder, device, tok))
    if built is None:
        return
    loaded = report.step(f"{size}: load", lambda: checks.load(folder, device))
    if loaded is None:
        return
    engine, text = loaded[0], checks.code(window)
    for name, s in checks.SAMPLINGS.items():
        report.step(f"{size}: infill {name}", lambda s=s: checks.sample(engine, s, text))
    report.step(f"{size}: same seed, same fill", lambda: checks.seeded_repeat(engine, text))
    fills = checks.fills(*text)
    for name, req in fills.items():
        report.step(f"{size}: engine fill {name}", lambda req=req: checks.fill(engine, req))
    batch = [fills[n] for n in checks.BATCH]
    report.step(f"{size}: batcher, {len(batch)} at once", lambda: checks.batched(engine, batch))
    if size == "tiny" and device.startswith("cuda") and _flash_imports():
        report.step(f"{size}: flash-attn vs SDPA", lambda: checks.flash_parity(engine))


def _flash_imports() -> bool:
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        return False
    return True


def run(out: Path, device: str = "cuda", sizes: tuple[str, ...] = ("tiny", "0.5b"), window: int = 1500) -> bool:
    """Every step for every size, with `window` characters of code each side of the gap;
    DIR/cuda-check.json and .log written; True if all passed."""
    out.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(out / "cuda-check.log", mode="w")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    log.addHandler(handler)
    report = Report(device)
    started = time.perf_counter()
    env = _environment(device)
    log.info("environment %s", json.dumps(env))
    try:
        tok = checks.shipped_tokenizer()
        with tempfile.TemporaryDirectory(prefix="fg-cuda-") as tmp:
            for size in sizes:
                check_size(report, size, device, Path(tmp), tok, window)
                gc.collect()  # the last size's engine goes before the next one loads
                if device.startswith("cuda"):
                    torch.cuda.empty_cache()
        if device.startswith("cuda"):  # the benchmark's own --device path (the CPU one has its own test)
            for size, gaps, context in BENCH:
                if size in sizes:
                    step = f"{size}: bench decode --device {device}"
                    report.step(step, lambda s=size, g=gaps, c=context: checks.bench_decode(device, s, out, g, c))
    finally:
        summary = {"ok": report.ok, "seconds": time.perf_counter() - started, "window": window, "environment": env}
        (out / "cuda-check.json").write_text(json.dumps({**summary, "steps": report.steps}, indent=2) + "\n")
        failed = [s["name"] for s in report.steps if not s["ok"]]
        log.info("%s: %d steps, %d failed %s", "PASS" if report.ok else "FAIL", len(report.steps), len(failed), failed)
        log.removeHandler(handler)
        handler.close()
    return report.ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.cuda.check", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="folder for cuda-check.json and cuda-check.log")
    p.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu for a dry run")
    p.add_argument("--sizes", default="tiny,0.5b", help=f"comma-separated, of {', '.join(checks.SIZES)}")
    p.add_argument("--window", type=int, default=1500, help="characters of code each side of the gap")
    ns = p.parse_args(argv)
    if ns.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"no CUDA device here (torch {torch.__version__}); nothing checked", file=sys.stderr)
        return 2
    sizes = tuple(s for s in ns.sizes.split(",") if s)
    unknown = [s for s in sizes if s not in checks.SIZES]
    if unknown:
        p.error(f"unknown sizes {unknown}")
    return 0 if run(ns.out, ns.device, sizes, ns.window) else 1


if __name__ == "__main__":
    raise SystemExit(main())
