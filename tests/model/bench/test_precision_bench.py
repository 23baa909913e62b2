"""`fillgap bench`'s fp32 against bf16 rows: every row filled in one run, the CPU's bf16 units beside
them, and the summary lines `fillgap bench` prints. Times are recorded, never asserted."""

from __future__ import annotations

import pytest
import torch

from lsp.bench.command import precision_lines
from model.bench.precision import PRECISION_TOKENS, SHAPES, precision
from model.engine import torch_dtype
from model.tokenizer import CodeTokenizer
from model.transformer import DiffusionLM
from tests.model.conftest import CODE


def _tokens(tok: CodeTokenizer) -> list[int]:
    ids = tok.encode("".join(CODE))
    return (ids * (PRECISION_TOKENS // len(ids) + 1))[:PRECISION_TOKENS]


@pytest.fixture(scope="module")
def rows(tiny_model: DiffusionLM, tiny_tokenizer: CodeTokenizer, tmp_path_factory: pytest.TempPathFactory) -> dict:
    from model.checkpoint import save_checkpoint

    folder = tmp_path_factory.mktemp("ckpt") / "tiny"
    save_checkpoint(tiny_model, tiny_tokenizer, folder)
    return precision(tiny_model, _tokens(tiny_tokenizer), tiny_tokenizer.specials, "cpu", 1, folder)


def test_each_shape_and_a_fill_is_timed_in_both_dtypes(rows: dict, tiny_model: DiffusionLM) -> None:
    assert [r["what"].split(" (")[0] for r in rows["rows"]] == [
        *(f"forward {b}x{w}" for b, w, _ in SHAPES),
        "typing fill",
    ]
    for r in rows["rows"]:
        assert r["fp32_ms"] > 0 and r["bf16_ms"] > 0 and r["bf16_speedup"] == pytest.approx(r["fp32_ms"] / r["bf16_ms"])
    forward = [r for r in rows["rows"] if r["what"].startswith("forward")]
    assert all(0 <= r["top1_agree"] <= 1 and r["max_logp_diff"] >= 0 for r in forward)
    assert rows["rows"][-1]["same_text"] in (0.0, 1.0)
    assert next(tiny_model.parameters()).dtype == torch.float32  # the model timed is left as it was


def test_the_rows_say_what_auto_picks_on_this_cpu(rows: dict) -> None:
    assert rows["auto_dtype"] == str(torch_dtype("auto", "cpu", cpu_bf16_ok=True)).removeprefix("torch.")
    assert rows["cpu_bf16"] == bool(rows["cpu_bf16_flags"])
    lines = precision_lines(rows)
    assert len(lines) == len(rows["rows"]) and all(name.startswith("bf16 vs fp32: ") for name, _, _ in lines)
    assert all(f"auto on cpu: {rows['auto_dtype']}" in target for _, _, target in lines)
    assert precision_lines(None) == []
