from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from model.checkpoint import CheckpointError, load_checkpoint
from model.transformer import DiffusionLM


def test_round_trip_gives_identical_logits(tiny_checkpoint: Path, tiny_model: DiffusionLM) -> None:
    loaded, tok, config = load_checkpoint(tiny_checkpoint)
    ids = torch.tensor([tok.encode("def add(a, b):\n    return a + b\n")])
    assert torch.equal(loaded(ids), tiny_model(ids))
    assert config["mask_token_id"] == tok.specials.mask


def test_pickle_only_folder_is_refused_without_unpickling(tiny_checkpoint: Path) -> None:
    (tiny_checkpoint / "model.safetensors").unlink()
    # A pickle whose loading would raise: proves the loader never calls pickle on it.
    (tiny_checkpoint / "pytorch_model.bin").write_bytes(pickle.dumps(object.__new__(BrokenOnLoad)))
    with pytest.raises(CheckpointError, match="pytorch_model.bin"):
        load_checkpoint(tiny_checkpoint)


class BrokenOnLoad:
    def __reduce__(self):  # type: ignore[override]
        return (_explode, ())


def _explode() -> None:
    raise AssertionError("a pickle was loaded")


def test_missing_tensor_is_named(tiny_checkpoint: Path) -> None:
    path = tiny_checkpoint / "model.safetensors"
    state = load_file(str(path))
    del state["model.layers.1.mlp.up_proj.weight"]
    save_file(state, str(path))
    with pytest.raises(CheckpointError, match="model.layers.1.mlp.up_proj.weight"):
        load_checkpoint(tiny_checkpoint)


def test_shape_mismatch_is_named(tiny_checkpoint: Path) -> None:
    config = json.loads((tiny_checkpoint / "config.json").read_text())
    config["intermediate_size"] = 96
    (tiny_checkpoint / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="gate_proj.weight.*shape"):
        load_checkpoint(tiny_checkpoint)


def test_truncated_safetensors_is_refused(tiny_checkpoint: Path) -> None:
    path = tiny_checkpoint / "model.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_checkpoint(tiny_checkpoint)
