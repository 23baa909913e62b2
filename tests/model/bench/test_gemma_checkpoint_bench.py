"""`fillgap bench`'s decode part on a DiffusionGemma folder (model/bench/gemma_checkpoint.py): the child
`python -m model.bench.decode --model DIR` chooses the block-diffusion loop by the folder's family and
answers in the masked family's row shape, which lsp/bench/command.py prints. A tiny random folder
(tests/model/gemma/folders.py), an 8-token canvas; times are recorded, never asserted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lsp.bench.command import summary
from model.bench import decode
from model.bench.gemma_checkpoint import AR, FILL, is_block_diffusion
from model.checkpoint import DEFAULT_CHECKPOINT
from tests.model.gemma.folders import build

pytestmark = [pytest.mark.slow]  # a folder built and loaded, then about 20 canvas steps: ~15 s here
CANVAS = 8
ROW_KEYS = {"gap", "method", "tok_s", "median_s", "min_s", "max_s", "forward_passes", "vs_ar"}


@pytest.fixture
def one_thread() -> object:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared machine
    yield None
    torch.set_num_threads(threads)


def test_the_decode_part_times_a_diffusion_gemma_folder_in_the_rows_fillgap_bench_prints(
    tmp_path: Path, one_thread: object
) -> None:
    folder = build(tmp_path, canvas=CANVAS)
    generation = json.loads((folder / "generation_config.json").read_text())
    # the checkpoint's own steps, cut from 48 so the fill row takes a second, not a minute (~0.17 s a step here)
    (folder / "generation_config.json").write_text(json.dumps({**generation, "max_denoising_steps": 2}))
    assert is_block_diffusion(str(folder)) and not is_block_diffusion(str(DEFAULT_CHECKPOINT))
    out = tmp_path / "decode.json"
    argv = ["--model", str(folder), "--device", "cpu", "--gaps", "4,12", "--context", "16", "--repeats", "1"]
    fake_bound = ["--bandwidth-gbs", "50", "--peak-tflops", "1"]  # a made-up device: the bounds are computed
    assert decode.main([*argv, "--steps", "1,2", *fake_bound, "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    rows = result["rows"]
    methods = [AR, "diffusion 1 steps", "diffusion 2 steps", FILL]
    assert [(r["gap"], r["method"]) for r in rows] == [(g, m) for g in (4, 12) for m in methods]
    for r in rows:
        # the fill row has another prompt (the chat template) and early stops: no bound is claimed for it
        assert set(r) == (ROW_KEYS if r["method"] == FILL else ROW_KEYS | {"bound_tok_s", "fraction_of_bound"})
        assert r["method"] == FILL or 0 < r["fraction_of_bound"]
        assert r["min_s"] <= r["median_s"] <= r["max_s"] and r["tok_s"] == pytest.approx(r["gap"] / r["median_s"])
    passes = {(r["gap"], r["method"]): r["forward_passes"] for r in rows}
    assert passes[(4, AR)] == 4 and passes[(12, AR)] == 12  # a token a pass
    # a gap pays for whole canvases: 4 tokens take one 8-token canvas, 12 take two, each at its steps
    assert passes[(4, "diffusion 1 steps")] == 1 and passes[(4, "diffusion 2 steps")] == 2
    assert passes[(12, "diffusion 1 steps")] == 2 and passes[(12, "diffusion 2 steps")] == 4
    # the fill: up to the checkpoint's 2 steps a canvas (an early stop or an end-of-text may come sooner)
    assert 1 <= passes[(4, FILL)] <= 2 and 1 <= passes[(12, FILL)] <= 4
    meta = result["meta"]
    assert (meta["family"], meta["engine"], meta["canvas"]) == ("diffusion_gemma", "block-diffusion", CANVAS)
    assert meta["steps"] == [1, 2] and meta["generation"]["max_denoising_steps"] == 2
    assert meta["torch"] and meta["backend"].startswith("torch SDPA") and result["concurrency"] == []
    lines = {name: got for name, got, _ in summary({"decode": result})}
    best = max((r for r in rows if r["gap"] == 12 and r["method"].startswith("diffusion")), key=lambda r: r["vs_ar"])
    assert lines[f"diffusion/AR at 12-token gap ({best['method']})"] == f"{best['vs_ar']:.2f}x"
    assert f"{AR}: share of the roofline bound" in lines
