"""The engine on a tiny random checkpoint: budgets, dtypes, and revision of a draft."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.engine import FillEngine, fit_window
from model.wire.protocol import FillRequest


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_one_candidate_per_budget_without_special_tokens(tiny_checkpoint: Path, dtype: str) -> None:
    engine = FillEngine(tiny_checkpoint, dtype=dtype)
    res = engine.fill(FillRequest(id=4, prefix="def add(a, b):\n    ", suffix="\n", budgets=[4, 9]))
    assert sorted(c.budget for c in res.candidates) == [4, 9]
    assert all("<|" not in c.text and len(c.tokens) == len(c.confidences) <= c.budget for c in res.candidates)


def test_revision_rewrites_only_the_ranges_asked_for(tiny_checkpoint: Path) -> None:
    engine = FillEngine(tiny_checkpoint)
    draft = "return a + b"
    req = FillRequest(
        id=5, prefix="def add(a, b):\n    ", suffix="\n", draft=draft, remask=[[len(draft) - 1, len(draft)]]
    )
    text = engine.fill(req).candidates[0].text
    assert text.startswith("return a +")  # the tokens outside the range are kept as written


def test_fit_window_keeps_the_gap_and_both_sides_within_the_limit() -> None:
    w = fit_window(list(range(100, 400)), list(range(500, 600)), budget=32, limit=128, eos=1)
    assert len(w.ids) == 128 and w.gap_len == 32
    assert w.ids[w.gap_start - 1] == 399 and w.ids[w.gap_start + w.gap_len] == 500  # adjacent context kept
    short = fit_window([7, 8], [9], budget=4, limit=128, eos=1)
    assert short.ids[0] == 1 and short.ids[-1] == 1  # whole file: end-of-text markers on both sides


def test_refine_rewrites_only_tokens_the_model_finds_unlikely(tiny_checkpoint: Path) -> None:
    engine = FillEngine(tiny_checkpoint)
    draft = "return a + b"
    base = {"id": 6, "prefix": "def add(a, b):\n    ", "suffix": "\n", "draft": draft}
    kept = engine.fill(FillRequest(**base, remask_below=1e-12)).candidates[0]
    assert kept.text == draft and all(0 < c <= 1 for c in kept.confidences)  # scores, nothing re-masked
    redone = engine.fill(FillRequest(**base, remask_below=1.0))  # every token re-masked and rewritten
    assert redone.forward_passes > 0 and "<|" not in redone.candidates[0].text
