"""Hub checkpoint families load through our one architecture with the logits of the reference.

The reference models are the `transformers` Qwen2 and Llama classes with small random weights,
run with a full (bidirectional) attention mask; nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from model.checkpoint import CheckpointError, load_checkpoint
from model.families import FAMILIES, their_name
from model.tokenizer import CodeTokenizer

transformers = pytest.importorskip("transformers")

SHAPE = dict(
    vocab_size=320,
    hidden_size=64,
    intermediate_size=96,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=128,
    rms_norm_eps=1e-6,
    tie_word_embeddings=False,
)


def _reference(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if kind == "llama":
        cfg = transformers.LlamaConfig(**SHAPE, rope_theta=500000.0, attention_bias=False)
        model = transformers.LlamaForCausalLM(cfg)
    else:
        cfg = transformers.Qwen2Config(**SHAPE, rope_theta=1000000.0)
        model = transformers.Qwen2ForCausalLM(cfg)
    with torch.no_grad():  # HF zero-initialises biases and norms; make every tensor matter
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


def _bidirectional_logits(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    full = torch.ones(ids.shape[0], 1, ids.shape[1], ids.shape[1], dtype=torch.bool)
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=full).logits


def _write(folder: Path, config: dict, state: dict[str, torch.Tensor], tok: CodeTokenizer, shards: int = 1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    tok.tok.save(str(folder / "tokenizer.json"))
    names = sorted(state)
    if shards == 1:
        save_file({k: state[k].contiguous() for k in names}, str(folder / "model.safetensors"))
        return folder
    weight_map = {}
    for i in range(shards):
        part = names[i::shards]
        file = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        save_file({k: state[k].contiguous() for k in part}, str(folder / file))
        weight_map.update({k: file for k in part})
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return folder


def _llada_config(ref: torch.nn.Module, mask_id: int) -> dict:
    c = ref.config
    return {
        "model_type": "llada",
        "architectures": ["LLaDAModelLM"],
        "d_model": c.hidden_size,
        "n_heads": c.num_attention_heads,
        "n_kv_heads": c.num_key_value_heads,
        "n_layers": c.num_hidden_layers,
        "mlp_hidden_size": c.intermediate_size,
        "vocab_size": c.vocab_size,
        "embedding_size": c.vocab_size,
        "rope_theta": 500000.0,
        "rms_norm_eps": c.rms_norm_eps,
        "include_bias": False,
        "include_qkv_bias": False,
        "weight_tying": False,
        "max_sequence_length": 128,
        "mask_token_id": mask_id,
    }


@pytest.mark.parametrize("family,shards", [("qwen2", 1), ("dream", 2), ("llada", 3)])
def test_logits_match_the_reference(tmp_path: Path, tiny_tokenizer: CodeTokenizer, family: str, shards: int) -> None:
    ref = _reference("llama" if family == "llada" else "qwen2")
    state = ref.state_dict()
    mask_id = tiny_tokenizer.specials.mask
    if family == "llada":
        config = _llada_config(ref, mask_id)
        state = {their_name(FAMILIES["llada"], k): v for k, v in state.items()}
    else:
        config = {
            **ref.config.to_dict(),
            "model_type": "Dream" if family == "dream" else "qwen2",
            "mask_token_id": mask_id,
        }
        config.pop("rope_theta", None)  # transformers 5 keeps it in rope_parameters; both must work
    folder = _write(tmp_path / family, config, state, tiny_tokenizer, shards)
    ours, tok, _ = load_checkpoint(folder)
    ids = torch.randint(0, 320, (2, 33), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        got = ours(ids)
    want = _bidirectional_logits(ref, ids)
    assert (got - want).abs().max().item() <= 1e-4
    assert tok.specials.mask == mask_id
    with torch.no_grad():
        aligned = ours.token_logits(ids)
    if family in ("qwen2", "dream"):  # adapted from AR: token i is read at position i-1
        assert torch.equal(aligned[:, 1:], got[:, :-1])
    else:
        assert torch.equal(aligned, got)


def test_unknown_architecture_is_refused(tmp_path: Path, tiny_checkpoint: Path) -> None:
    config = json.loads((tiny_checkpoint / "config.json").read_text())
    config["model_type"] = "gpt2"
    (tiny_checkpoint / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="config.json.*gpt2"):
        load_checkpoint(tiny_checkpoint)


def test_missing_llada_tensor_is_named_by_its_file_name(tmp_path: Path, tiny_tokenizer: CodeTokenizer) -> None:
    ref = _reference("llama")
    state = {their_name(FAMILIES["llada"], k): v for k, v in ref.state_dict().items()}
    del state["model.transformer.blocks.1.ff_proj.weight"]
    folder = _write(tmp_path / "llada", _llada_config(ref, tiny_tokenizer.specials.mask), state, tiny_tokenizer)
    with pytest.raises(CheckpointError, match="model.transformer.blocks.1.ff_proj.weight"):
        load_checkpoint(folder)
