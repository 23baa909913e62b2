"""A DiffusionGemma folder through the product: `fillgap serve` over stdio (a raw LSP client, as
tests/model/hub/test_hub_serve.py) and `fillgap fill --model DIR`, each with its own worker.

The tiny folder is untied, and its output head reads one hidden dimension: the token "1" scores
it, "2" its negative, every other token scores 0, so every canvas position writes a digit
(random weights otherwise write random ids, which no syntax check accepts). The answer is then
a Python expression statement, and its path shows: the worker's block engine, instruction mode,
the LSP's checks, the editor's item. Its generation_config.json caps a canvas at 3 steps.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.model.gemma.folders import VOCAB_SIZE, build, tokenizer_json
from tests.reliability.rpc import RawServer

pytestmark = [pytest.mark.slow]  # each starts a server or a `fillgap fill` and a worker

REPO = Path(__file__).resolve().parents[3]
DOC = "import math\n\n\ndef area(w, h):\n    total = w * h\n    \n    return total\n"


def _digit_ids() -> tuple[int, int]:
    vocab = json.loads(tokenizer_json())["model"]["vocab"]
    return vocab["1"], vocab["2"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    one, two = _digit_ids()
    head = torch.zeros(VOCAB_SIZE, 32, dtype=torch.bfloat16)  # hidden size 32 (folders.TEXT_SIZES)
    head[one, 0], head[two, 0] = 1e6, -1e6  # saturates the soft cap whatever the hidden state's size
    path = build(tmp_path_factory.mktemp("gemma-serve"), canvas=8, tied=False, extra={"lm_head.weight": head})
    config = json.loads((path / "generation_config.json").read_text())
    (path / "generation_config.json").write_text(json.dumps({**config, "max_denoising_steps": 3}))
    return path


def test_diffusion_gemma_fill_through_serve_over_stdio(folder: Path, tmp_path: Path) -> None:
    server = RawServer(tmp_path / "serve.stderr")
    try:
        server.initialize(
            {
                "threads": 1,
                "model": str(folder),
                "worker": {"mode": "private"},
                "budgets": {"body": [8], "lines": [8], "line": [8]},
            }
        )
        uri = "file:///tmp/gemma/area.py"
        server.open(uri, DOC)
        items = server.inline_items(uri, 5, 4, timeout=300)
        status = server.status()
    finally:
        server.close()
    assert status["worker"] == "ready", server.stderr_text()[-3000:]
    worker = status["worker_status"]
    assert (worker["family"], worker["canvas_tokens"], worker["experts"]) == ("diffusion_gemma", 8, 4)
    assert worker["served"] >= 1 and worker["failed"] == 0 and worker["rows"] > 0
    texts = [i.insert_text if isinstance(i.insert_text, str) else i.insert_text.value for i in items]
    assert texts, server.stderr_text()[-3000:]
    # The line's indentation, then digits only: at most the budget's 8 tokens of "1" and "2".
    assert all(re.fullmatch(r"[12]{1,8}", t.strip()) for t in texts), texts


def test_diffusion_gemma_fillgap_fill_with_the_model_folder(folder: Path, tmp_path: Path) -> None:
    sample = tmp_path / "area.py"
    sample.write_text("def area(w, h):\n    pass\n\n\ndef double(x):\n    pass\n")
    proc = subprocess.run(
        [sys.executable, "-m", "lsp.cli", "fill", "--model", str(folder), "--threads", "1", str(sample)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.search(r"\d+ of 2 placeholder bodies filled", proc.stderr), proc.stderr[-3000:]
    added = [line[1:] for line in proc.stdout.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert all(re.fullmatch(r"\s*[12]+", line) for line in added), proc.stdout
