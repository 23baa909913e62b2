"""`fillgap train`: its flags read the options' defaults, and end to end on a tiny corpus it writes
a loadable checkpoint and resumes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from model.checkpoint import load_checkpoint
from model.train.cli import parser
from model.train.loop import train_config
from model.train.objective import TrainConfig
from model.train.options import TrainOptions
from tests.model.conftest import CODE

TINY = [
    "--vocab-size",
    "300",
    "--hidden",
    "32",
    "--ffn",
    "64",
    "--layers",
    "2",
    "--heads",
    "4",
    "--kv-heads",
    "2",
    "--seq-len",
    "32",
    "--batch-size",
    "2",
    "--steps",
    "6",
    "--log-every",
    "1",
    "--threads",
    "1",
]
# a documented function that `--functions` makes a document of its own (model/train/functions.py)
DOCUMENTED = 'import os\n\n\ndef here():\n    """The folder."""\n    return os.getcwd()\n'


def test_the_flags_are_the_options_with_their_defaults() -> None:
    assert TrainOptions(**vars(parser().parse_args(["--out", "run"]))) == TrainOptions(out="run")
    options = TrainOptions(**vars(parser().parse_args(["--out", "run", *TINY])))
    assert (options.hidden, options.kv_heads, options.steps, options.threads) == (32, 2, 6, 1)
    assert train_config(options) == TrainConfig(seq_len=32, batch_size=2, steps=6)


def _train(data: Path, out: Path, *extra: str) -> None:
    cmd = [sys.executable, "-m", "model.train.cli", "--data", str(data), "--out", str(out), *TINY, *extra]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)


@pytest.mark.slow  # runs real programs / a training run / a benchmark child
def test_train_writes_a_checkpoint_and_resumes(tmp_path: Path) -> None:
    data = tmp_path / "src"
    data.mkdir()
    for i, text in enumerate(CODE[:12]):
        (data / f"m{i}.py").write_text(f"# module {i}\n" + text * 8)  # distinct files: no dedup
    (data / "doc.py").write_text(DOCUMENTED * 4)
    (data / "test").mkdir()
    (data / "test" / "test_skip.py").write_text("SECRET_TEST_ONLY = 1\n" * 50)
    out = tmp_path / "run"
    _train(data, out, "--functions", "2", "--max-minutes", "0.0001")  # stops after its first step, resumably
    assert json.loads((out / "train_state.json").read_text())["step"] == 1
    _train(data, out, "--functions", "2")
    assert json.loads((out / "train_state.json").read_text())["step"] == 6
    steps = [json.loads(line)["step"] for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]
    model, tok, config = load_checkpoint(out)
    corpus = config["fillgap_training"]["corpus"]
    assert corpus["files_train"] + corpus["files_held_out"] == 13 and corpus["files_held_out"] >= 1  # no test/
    # doc.py (a training file: its path does not hash into the held-out share) defines `here` 4 times
    assert corpus["functions"] == {
        "repeat": 2,
        "documents": 8,
        "bytes": 8 * len(DOCUMENTED),  # each import once
    }
    assert tok.tok.token_to_id("SECRET_TEST_ONLY") is None
    ids = torch.tensor([tok.encode("def add(a, b):\n    return a + b\n")])
    assert torch.isfinite(model(ids)).all()
