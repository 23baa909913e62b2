"""The DiffusionGemma GPU bench (model/bench/gemma_decode.py), run whole on the CPU at a tiny shape,
and its MoE roofline (model/bench/roofline.py) at the published 26B-A4B shape.

The bench is the script the GPU session runs; here it runs every step at a size a CPU finishes in
seconds, with a made-up device bound so the roofline shares are computed too. Times are never
asserted: only that every row was measured, bounded and written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from model.bench import gemma_decode
from model.bench.roofline import (
    MoEPass,
    MoEShape,
    autoregressive_token_bound,
    canvas_bound,
    experts_touched,
    known_device,
    moe_pass_bytes,
)
from tests.model.gemma import published

TINY = ["--shape", "tiny", "--device", "cpu", "--context", "24", "--canvas", "16", "--ar-tokens", "3"]
FAKE_BOUND = ["--bandwidth-gbs", "50", "--peak-tflops", "1"]


@pytest.fixture
def one_thread() -> object:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared machine
    yield None
    torch.set_num_threads(threads)


def test_the_bench_runs_every_row_on_the_cpu_and_writes_its_report(tmp_path: Path, one_thread: object) -> None:
    argv = [*TINY, *FAKE_BOUND, "--batches", "1,2", "--steps", "12,24", "--repeats", "1", "--out", str(tmp_path)]
    assert gemma_decode.main(argv) == 0
    report = json.loads((tmp_path / "gemma-bench.json").read_text())
    meta = report["meta"]
    assert meta["tensors_on"] == ["cpu"] and meta["attention"] == "sdpa"
    assert abs(meta["parameters"] - meta["parameters_expected"]) < 0.02 * meta["parameters_expected"]  # norms aside
    assert [r["batch"] for r in report["batches"]] == [1, 2] and not report["skipped"]
    for row in report["batches"]:
        assert row["prefill_ms_per_token"] > 0 and row["decoder_forward_ms"] > 0 and row["ar_tok_s"] > 0
        assert 0 < row["ar_share"] and 0 < row["prefill_share"]
        assert [c["steps"] for c in row["canvases"]] == [12, 24]
        for c in row["canvases"]:
            assert c["tok_s"] == pytest.approx(row["batch"] * 16 / (c["canvas_ms"] / 1e3))
            assert 0 < c["share"] and c["bound_tok_s"] > c["tok_s"]  # nothing beats its bound
            assert c["vs_ar"] == pytest.approx(c["tok_s"] / row["ar_tok_s"])
    lines = report["goals"]["lines"]
    assert any(line.startswith("GOAL 12 steps at batch 1:") for line in lines)
    assert sum(line.startswith("GOAL batch ") for line in lines) == 4  # 12 and 24 steps, batches 1 and 2
    assert any("published 1,288 tok/s" in line for line in lines)
    md = (tmp_path / "gemma-bench.md").read_text()
    assert "| batch | what | ms | tok/s | bound | share of bound | x AR |" in md and "diffusion, 24 steps" in md


def test_a_batch_size_that_would_not_fit_the_budget_is_skipped_and_the_report_still_written(
    tmp_path: Path, one_thread: object
) -> None:
    argv = [*TINY, "--batches", "1,4", "--steps", "2", "--repeats", "1", "--budget-s", "0", "--out", str(tmp_path)]
    assert gemma_decode.main(argv) == 0
    report = json.loads((tmp_path / "gemma-bench.json").read_text())
    assert [r["batch"] for r in report["batches"]] == [1]
    assert [s["batch"] for s in report["skipped"]] == [4]
    assert "skipped batch 4" in (tmp_path / "gemma-bench.md").read_text()


def test_the_bench_shapes_are_the_published_config() -> None:
    text = published.CONFIG["text_config"]
    for key, value in gemma_decode.PUBLISHED_TEXT_CONFIG.items():
        assert text[key] == value, key


def test_the_moe_roofline_counts_the_parameters_transformers_builds() -> None:
    from transformers import DiffusionGemmaConfig, DiffusionGemmaForBlockDiffusion

    with torch.device("meta"):  # the real 26B-A4B shapes, no memory
        model = DiffusionGemmaForBlockDiffusion(DiffusionGemmaConfig(text_config=gemma_decode.PUBLISHED_TEXT_CONFIG))
    text = sum(p.numel() for n, p in model.named_parameters() if "vision" not in n and p.dim() > 1)
    experts = sum(p.numel() for n, p in model.named_parameters() if ".experts." in n)
    m = MoEShape.from_text_config(gemma_decode.PUBLISHED_TEXT_CONFIG)
    assert m.parameters == text and m.all_experts == experts
    assert 25.2e9 < m.parameters < 25.3e9 and 22.8e9 < experts < 22.9e9  # the model card's 25.2B, the issue's 22.8B


def test_a_canvas_touches_nearly_every_expert_and_one_token_a_sixteenth() -> None:
    assert experts_touched(1, 128, 8) == pytest.approx(1 / 16)
    assert experts_touched(256, 128, 8) > 1 - 1e-6
    assert experts_touched(16, 128, 8) == pytest.approx(1 - (15 / 16) ** 16)


def test_the_h200_bound_at_batch_1_is_the_issues_estimate() -> None:
    """About 50 GB a decoder step, so about 2,030 tok/s at 12 steps and 508 at 48 on an H200 (the
    issue's figures, which leave out the encoder pass appending each canvas; ours counts it)."""
    m, h200 = MoEShape.from_text_config(gemma_decode.PUBLISHED_TEXT_CONFIG), known_device("NVIDIA H200")
    assert h200 is not None
    step = moe_pass_bytes(m, MoEPass(1, 256, 1024, scored=256, decoder=True))
    assert 50e9 < step < 54e9
    encoder_token = moe_pass_bytes(m, MoEPass(1, 1, 1024, scored=1, decoder=False))
    assert encoder_token < step / 6  # one token touches an eighth of the experts' bytes, plus what all tokens read
    for steps, issue in ((12, 2030), (48, 508)):
        assert 0.85 * issue < 256 / canvas_bound(m, h200, 1, 256, 1024, steps) < issue
    # batch 16: the decoder step is arithmetic-bound; the bound still ranks diffusion ahead
    assert 16 * 256 / canvas_bound(m, h200, 16, 256, 1024, 24) > 16 / autoregressive_token_bound(m, h200, 16, 1280)
