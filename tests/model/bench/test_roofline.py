"""The roofline bound that `fillgap bench` compares GPU figures with."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from model.bench.decode import RANDOM_MODELS
from model.bench.roofline import Device, decode_bound, known_device, pass_seconds

H100 = Device("NVIDIA H100 80GB HBM3", 3.35e12, 989e12)


def test_devices_are_known_by_name() -> None:
    assert known_device("NVIDIA H200").bandwidth == 4.8e12
    assert known_device("NVIDIA H100 PCIe").bandwidth == 2.0e12
    assert known_device("NVIDIA H100 80GB HBM3").flops == 989e12
    assert known_device("NVIDIA A10G") is None


def test_a_small_pass_is_bound_by_memory_and_a_big_one_by_arithmetic() -> None:
    cfg = RANDOM_MODELS["0.5b"]
    weights_read = pass_seconds(cfg, H100, 1, 1, 1, 2)
    assert weights_read * H100.bandwidth > 0.9e9  # about 0.5B weights x 2 bytes
    assert pass_seconds(cfg, H100, 4096, 4096, 4096, 2) > 10 * weights_read  # ~5.5 ms of arithmetic vs 0.3 ms


def test_the_cache_lowers_the_bound_and_autoregression_pays_a_pass_per_token() -> None:
    cfg = RANDOM_MODELS["0.5b"]
    plain = decode_bound(cfg, H100, "diffusion 64 steps", 512, 256, 64)
    cached = decode_bound(cfg, H100, "diffusion 64 steps + cache", 512, 256, 64)
    ar = decode_bound(cfg, H100, "autoregressive (KV cache, greedy)", 512, 256, 256)
    assert cached < plain
    assert ar > 256 * pass_seconds(cfg, H100, 1, 1, 1, 2) * 0.99


@pytest.mark.slow  # runs real programs / a training run / a benchmark child
def test_bench_reports_each_rows_fraction_of_the_bound(tmp_path: Path) -> None:
    out = tmp_path / "b.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "model.bench.decode",
            "--random-model",
            "tiny",
            "--gaps",
            "16",
            "--context",
            "32",
            "--repeats",
            "1",
            "--bandwidth-gbs",
            "20",
            "--peak-tflops",
            "0.2",
            "--json",
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    result = json.loads(out.read_text())
    assert result["meta"]["model"] == "random tiny" and result["meta"]["bound_device"]["flops"] == 0.2e12
    assert all(0 < r["fraction_of_bound"] and r["bound_tok_s"] > 0 for r in result["rows"])
