from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model.checkpoint import save_checkpoint
from model.tokenizer import CodeTokenizer, train_tokenizer
from model.transformer import DiffusionLM, ModelConfig

CODE = [
    "def add(a, b):\n    return a + b\n",
    "class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n",
    "for i in range(10):\n    print(i)\n",
] * 20


@pytest.fixture(scope="session")
def tiny_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> CodeTokenizer:
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    train_tokenizer(CODE, 300).save(str(path))
    return CodeTokenizer.from_file(path)


@pytest.fixture(scope="session")
def tiny_model(tiny_tokenizer: CodeTokenizer) -> DiffusionLM:
    torch.manual_seed(0)
    cfg = ModelConfig(
        vocab_size=tiny_tokenizer.vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    return DiffusionLM(cfg).eval()


@pytest.fixture()
def tiny_checkpoint(tmp_path: Path, tiny_model: DiffusionLM, tiny_tokenizer: CodeTokenizer) -> Path:
    save_checkpoint(tiny_model, tiny_tokenizer, tmp_path / "ckpt")
    return tmp_path / "ckpt"
