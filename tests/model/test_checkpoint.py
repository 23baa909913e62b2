from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from model.checkpoint import INDEX, SINGLE, CheckpointError, checked_config, load_checkpoint, save_weights
from model.transformer import DiffusionLM
from tests.model.hub import published


def test_round_trip_gives_identical_logits(tiny_checkpoint: Path, tiny_model: DiffusionLM) -> None:
    loaded, tok, config = load_checkpoint(tiny_checkpoint)
    ids = torch.tensor([tok.encode("def add(a, b):\n    return a + b\n")])
    assert torch.equal(loaded(ids), tiny_model(ids))
    assert config["mask_token_id"] == tok.specials.mask


def test_weights_past_the_file_cap_are_sharded_and_load_the_same(
    tiny_checkpoint: Path, tiny_model: DiffusionLM
) -> None:
    state = load_file(str(tiny_checkpoint / SINGLE))
    cap = sum(t.numel() * t.element_size() for t in state.values()) // 3  # three shards or more
    shards = save_weights(state, tiny_checkpoint, max_bytes=cap)
    assert len(shards) >= 3 and all(p.stat().st_size < cap + 2 * max(t.nbytes for t in state.values()) for p in shards)
    assert not (tiny_checkpoint / SINGLE).exists()  # the other layout's file is gone: one source of truth
    weight_map = json.loads((tiny_checkpoint / INDEX).read_text())["weight_map"]
    assert set(weight_map) == set(state) and set(weight_map.values()) == {p.name for p in shards}
    loaded, tok, _ = load_checkpoint(tiny_checkpoint)
    ids = torch.tensor([tok.encode("def add(a, b):\n    return a + b\n")])
    assert torch.equal(loaded(ids), tiny_model(ids))
    (single,) = save_weights(state, tiny_checkpoint)  # back under the cap: one file, shards and index gone
    assert single.name == SINGLE and sorted(p.name for p in tiny_checkpoint.glob("*.safetensors")) == [SINGLE]
    assert not (tiny_checkpoint / INDEX).exists()


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


def test_a_truncated_tensor_is_refused_before_any_read(tiny_checkpoint: Path) -> None:
    path = tiny_checkpoint / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-10])  # the header is whole; the last tensor's bytes are not
    with pytest.raises(CheckpointError, match="model.safetensors.*not a readable safetensors file"):
        load_checkpoint(tiny_checkpoint)


def _add_tensors(folder: Path, names: list[str]) -> None:
    path = folder / "model.safetensors"
    state = load_file(str(path))
    state.update({n: torch.zeros(3) for n in names})
    save_file(state, str(path))


def test_unexpected_tensors_are_refused_with_their_names(tiny_checkpoint: Path) -> None:
    _add_tensors(tiny_checkpoint, ["model.layers.2.mlp.up_proj.weight", "score.bias"])
    with pytest.raises(CheckpointError, match=r"2 tensors .*'model.layers.2.mlp.up_proj.weight', 'score.bias'$"):
        load_checkpoint(tiny_checkpoint)


def test_many_unexpected_tensors_are_counted(tiny_checkpoint: Path) -> None:
    _add_tensors(tiny_checkpoint, [f"adapter.{i}.weight" for i in range(8)])
    with pytest.raises(CheckpointError, match=r"8 tensors .*'adapter.4.weight' and 3 more$"):
        load_checkpoint(tiny_checkpoint)


def test_saved_rotary_tables_and_a_tied_head_are_not_unexpected(tiny_checkpoint: Path, tiny_model: DiffusionLM) -> None:
    path = tiny_checkpoint / "model.safetensors"
    state = load_file(str(path))
    state["model.layers.0.self_attn.rotary_emb.inv_freq"] = torch.ones(4)
    state["lm_head.weight"] = torch.zeros_like(state["model.embed_tokens.weight"])  # tied: the embedding wins, as in HF
    save_file(state, str(path))
    loaded, tok, _ = load_checkpoint(tiny_checkpoint)
    ids = torch.tensor([tok.encode("for i in range(10):\n")])
    assert torch.equal(loaded(ids), tiny_model(ids))


# The published config.json of each family (tests/model/hub/published.py, cited there) must pass
# as it is; each value we cannot run, set in it, must be refused naming the key and the value.
PUBLISHED = {
    "llada": published.LLADA_CONFIG,
    "diffucoder": published.DIFFUCODER_INSTRUCT_CONFIG,
    "dream-coder": published.DREAM_CODER_CONFIG,
    "open-dcoder": published.OPEN_DCODER_CONFIG,
}
REFUSED = [
    ("llada", "alibi", True),
    ("llada", "rope", False),
    ("llada", "block_type", "sequential"),
    ("llada", "block_group_size", 2),
    ("llada", "activation_type", "gelu"),
    ("llada", "layer_norm_type", "default"),
    ("llada", "layer_norm_with_affine", False),
    ("llada", "bias_for_layer_norm", True),
    ("llada", "multi_query_attention", True),
    ("llada", "clip_qkv", 8.0),
    ("llada", "include_bias", True),
    ("llada", "attention_layer_norm", True),
    ("llada", "scale_logits", True),
    ("llada", "input_emb_norm", True),
    ("llada", "rope_scaling", {"rope_type": "linear", "factor": 2.0}),
    ("diffucoder", "use_sliding_window", True),
    ("diffucoder", "use_mrope", True),
    ("diffucoder", "hidden_act", "gelu"),
    ("diffucoder", "rope_scaling", {"type": "yarn", "factor": 4.0}),
    ("dream-coder", "rope_parameters", {"rope_type": "dynamic", "factor": 2.0, "rope_theta": 1e6}),
    ("open-dcoder", "layer_types", ["full_attention"] * 23 + ["sliding_attention"]),
    ("open-dcoder", "head_dim", 128),  # 896 / 14 = 64
]


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_configs_pass(name: str) -> None:
    family, cfg = checked_config(Path(name), dict(PUBLISHED[name]))
    assert cfg.hidden_size in (896, 3584, 4096) and family.supported


@pytest.mark.parametrize("name,key,value", REFUSED, ids=[f"{n}-{k}" for n, k, _ in REFUSED])
def test_a_flag_we_cannot_run_is_refused_with_its_value(name: str, key: str, value: object) -> None:
    config = {**PUBLISHED[name], key: value}
    with pytest.raises(CheckpointError, match=re.escape(f"config.json: fillgap cannot run {key}={value!r}")):
        checked_config(Path(name), config)


@pytest.mark.parametrize(
    "key,value",
    [
        ("rope_parameters", {"rope_type": "default", "rope_theta": 1e6}),  # how transformers 5 writes plain RoPE
        ("layer_types", ["full_attention"] * 24),
        ("head_dim", 64),
        ("sliding_window", 32768),  # unused while use_sliding_window is false
    ],
)
def test_values_we_run_pass(key: str, value: object) -> None:
    checked_config(Path("open-dcoder"), {**published.OPEN_DCODER_CONFIG, key: value})


def test_a_refused_flag_stops_the_load_naming_the_config(tiny_checkpoint: Path) -> None:
    config = json.loads((tiny_checkpoint / "config.json").read_text())
    config.update(model_type="qwen2", use_sliding_window=True, hidden_act="relu")
    (tiny_checkpoint / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"config.json: .*use_sliding_window=True.*; hidden_act='relu'"):
        load_checkpoint(tiny_checkpoint)
