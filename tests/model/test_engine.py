"""The engine on a tiny random checkpoint: budgets, dtypes, revision of a draft, what it reports."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from model.checkpoint import DEFAULT_CHECKPOINT, CheckpointError
from model.engine import load_engine
from model.layout import fit_window
from model.masked_engine import MaskedDiffusionEngine
from model.wire.protocol import FillRequest


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_one_candidate_per_budget_without_special_tokens(tiny_checkpoint: Path, dtype: str) -> None:
    engine = load_engine(tiny_checkpoint, dtype=dtype)
    res = engine.fill(FillRequest(id=4, prefix="def add(a, b):\n    ", suffix="\n", budgets=[4, 9]))
    assert sorted(c.budget for c in res.candidates) == [4, 9]
    assert all("<|" not in c.text and len(c.tokens) == len(c.confidences) <= c.budget for c in res.candidates)


def test_revision_rewrites_only_the_ranges_asked_for(tiny_checkpoint: Path) -> None:
    engine = load_engine(tiny_checkpoint)
    draft = "return a + b"
    req = FillRequest(
        id=5, prefix="def add(a, b):\n    ", suffix="\n", draft=draft, remask=[[len(draft) - 1, len(draft)]]
    )
    text = engine.fill(req).candidates[0].text
    assert text.startswith("return a +")  # the tokens outside the range are kept as written


def test_fit_window_keeps_the_gap_and_both_sides_within_the_limit() -> None:
    w = fit_window(list(range(100, 400)), list(range(500, 600)), budget=32, limit=128, eos=1)
    (gap,) = w.spans
    assert len(w.ids) == 128 and gap.length == 32
    assert w.ids[gap.start - 1] == 399 and w.ids[gap.start + gap.length] == 500  # adjacent context kept
    short = fit_window([7, 8], [9], budget=4, limit=128, eos=1)
    assert short.ids[0] == 1 and short.ids[-1] == 1  # whole file: end-of-text markers on both sides


def test_refine_rewrites_only_tokens_the_model_finds_unlikely(tiny_checkpoint: Path) -> None:
    engine = load_engine(tiny_checkpoint)
    draft = "return a + b"
    base = {"id": 6, "prefix": "def add(a, b):\n    ", "suffix": "\n", "draft": draft}
    kept = engine.fill(FillRequest(**base, remask_below=1e-12)).candidates[0]
    assert kept.text == draft and all(0 < c <= 1 for c in kept.confidences)  # scores, nothing re-masked
    redone = engine.fill(FillRequest(**base, remask_below=1.0))  # every token re-masked and rewritten
    assert redone.forward_passes > 0 and "<|" not in redone.candidates[0].text


def test_the_engine_is_chosen_by_family_and_reports_itself(tiny_checkpoint: Path) -> None:
    engine = load_engine(tiny_checkpoint)
    assert isinstance(engine, MaskedDiffusionEngine)
    info = engine.info
    assert info.name == "masked-diffusion" and info.device == "cpu" and info.backend.startswith("torch SDPA")
    assert info.parameters == engine.model.num_parameters() and info.context_tokens == engine.limit


def test_an_unknown_family_is_refused_naming_the_config(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "gpt-j"}')
    with pytest.raises(CheckpointError, match="config.json"):
        load_engine(tmp_path)


def test_the_calibrated_gate_comes_from_the_checkpoint_config(tiny_checkpoint: Path, tmp_path: Path) -> None:
    assert load_engine(tiny_checkpoint).info.typing_gate is None  # nobody calibrated it
    folder = tmp_path / "calibrated"
    shutil.copytree(tiny_checkpoint, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "fillgap_gate": 0.14}))
    assert load_engine(folder).info.typing_gate == 0.14
    (folder / "config.json").write_text(json.dumps({**config, "fillgap_gate": 1.5}))
    with pytest.raises(CheckpointError, match="fillgap_gate must be a number between 0 and 1"):
        load_engine(folder)


def test_the_shipped_checkpoint_carries_its_calibrated_gate() -> None:
    gate = json.loads((DEFAULT_CHECKPOINT / "config.json").read_text()).get("fillgap_gate")
    assert isinstance(gate, float) and 0 < gate < 1  # results/gate-calibration.json, the model card
