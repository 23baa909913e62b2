"""The block-diffusion CUDA check and the combined device script, kept working on the CPU.

tests/cuda/block_check.py runs whole on a GPU (tests/cuda/device_run.py, tests/cuda/README.md);
here its steps run on the CPU without the engine's fills (48 steps a canvas over a 262k
vocabulary take minutes on a CPU; tests/model/gemma covers the fills), and the device script's
time limits are driven with real children.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.cuda import block_check, device_run

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.slow
def test_the_block_check_runs_on_the_cpu(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ok = block_check.run(tmp_path, "cpu", fills=False)
    finally:
        torch.set_num_threads(threads)
    report = json.loads((tmp_path / "block-check.json").read_text())
    failed = {s["name"]: s["error"] for s in report["steps"] if not s["ok"]}
    assert ok and not failed, failed
    names = [s["name"] for s in report["steps"]]
    for kind in ("build folder", "load on cpu", "SDPA", "denoise", "batched rows vs alone (fp32)"):
        assert any(kind in n for n in names), f"no {kind} step"
    batched = next(s for s in report["steps"] if "batched" in s["name"])
    assert max(batched["detail"]["max_abs_diff"]) <= 1e-4


@needs_cuda
def test_the_block_check_passes_on_cuda(tmp_path: Path) -> None:
    assert block_check.run(tmp_path, "cuda"), (tmp_path / "block-check.json").read_text()


def test_a_section_past_its_limit_is_interrupted_and_says_so(tmp_path: Path) -> None:
    sleeper = ["-n", "1", "-r", "1", "import time; time.sleep(60)"]
    got = device_run.section("sleeper", "timeit", sleeper, limit_s=1.0)
    assert got["timed_out"] and got["rc"] != 0
    assert got["seconds"] < 1.0 + device_run.GRACE_S + 5


def test_sections_without_time_left_are_skipped_and_the_summary_written(tmp_path: Path) -> None:
    limits = {"global": 2.0, "checks": 2.0, "hub": 2.0, "bench": 2.0}
    summary = device_run.run(tmp_path, "cpu", [], limits, skip=set())
    assert [s.get("skipped") for s in summary["sections"]] == ["no time left"] * 3 and not summary["ok"]
    assert json.loads((tmp_path / "device-run.json").read_text()) == summary


def test_the_sections_write_no_more_files_than_the_device_tool_brings_back(tmp_path: Path) -> None:
    """8 files at most, none deeper than OUT/a/b/file: hub 4, block 1, bench 2, device-run.json 1."""
    outs = [args[args.index("--out") + 1] for _, _, args in device_run.plan(tmp_path, "cuda", [])]
    assert [Path(o).relative_to(tmp_path).parts for o in outs] == [("hub",), ("block",), ("bench",)]
    assert [name for name, _, _ in device_run.plan(tmp_path, "cuda", [])][:2] == ["hub families", "block diffusion"]
