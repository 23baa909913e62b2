"""The CUDA check under pytest: on a GPU where there is one, and its tiny part on the CPU always.

The CPU run is what keeps tests/cuda/check.py working between GPU sessions (every step, the same
code); the device-placement bugs it exists for are caught on the CPU by tests/model/
test_device_rules.py and test_device_mode.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.cuda import check

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _passes(out: Path, device: str, sizes: tuple[str, ...], window: int = 1500) -> None:
    ok = check.run(out, device, sizes, window)
    report = json.loads((out / "cuda-check.json").read_text())
    failed = {s["name"]: s["error"] for s in report["steps"] if not s["ok"]}
    assert ok and not failed, f"failed steps: {json.dumps(failed, indent=2)}"
    names = {s["name"] for s in report["steps"]}
    for size in sizes:  # every kind of step ran, for every size
        for kind in ("build", "load", "infill", "same seed", "engine fill", "batcher"):
            assert any(n.startswith(f"{size}: {kind}") for n in names), f"no {kind} step for {size}"


def test_the_check_runs_on_the_cpu(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared machine; and a short window: the steps matter here, not sizes
    try:
        _passes(tmp_path, "cpu", ("tiny",), window=160)
    finally:
        torch.set_num_threads(threads)


@needs_cuda
def test_tiny_fills_on_cuda(tmp_path: Path) -> None:
    _passes(tmp_path, "cuda", ("tiny",))


@needs_cuda
@pytest.mark.slow
def test_half_a_billion_parameters_fill_on_cuda(tmp_path: Path) -> None:
    _passes(tmp_path, "cuda", ("0.5b",))


def test_without_cuda_the_script_says_so_and_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert check.main(["--out", str(tmp_path)]) == 2
    assert not (tmp_path / "cuda-check.json").exists()
