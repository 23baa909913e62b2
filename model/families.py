"""Checkpoint families: how each names its config keys and tensors, in one table.

Every family runs on the one architecture in `model.transformer` (Qwen2 layout, bidirectional);
a family only renames. Our names are the Hugging Face Qwen2/Llama ones.

- fillgap: our own checkpoints.
- qwen2 / dream: Dream 7B, Dream-Coder 7B, DiffuCoder 7B (model_type "Dream") and Open-dCoder
  0.5B (model_type "qwen2"). All were adapted from autoregressive Qwen and predict token i from
  the hidden state at i-1, so their logits are shifted (their generation code does
  `cat([logits[:, :1], logits[:, :-1]])`).
- llama: Llama-named tensors, no q/k/v bias, no shift.
- llada: LLaDA 8B (OLMo-style names under `model.transformer`; `ff_proj` is the SwiGLU gate).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Family:
    name: str
    config_keys: dict[str, str] = field(default_factory=dict)  # our ModelConfig field -> their key
    defaults: dict[str, Any] = field(default_factory=dict)  # our field values their configs leave implicit
    tensors: tuple[tuple[str, str], ...] = ()  # (our regex, their template), applied in order


_LLADA_TENSORS = (
    (r"^model\.embed_tokens\.weight$", "model.transformer.wte.weight"),
    (r"^model\.norm\.weight$", "model.transformer.ln_f.weight"),
    (r"^lm_head\.weight$", "model.transformer.ff_out.weight"),
    (r"^model\.layers\.(\d+)\.self_attn\.(q|k|v)_proj\.(weight|bias)$", r"model.transformer.blocks.\1.\2_proj.\3"),
    (r"^model\.layers\.(\d+)\.self_attn\.o_proj\.weight$", r"model.transformer.blocks.\1.attn_out.weight"),
    (r"^model\.layers\.(\d+)\.mlp\.gate_proj\.weight$", r"model.transformer.blocks.\1.ff_proj.weight"),
    (r"^model\.layers\.(\d+)\.mlp\.up_proj\.weight$", r"model.transformer.blocks.\1.up_proj.weight"),
    (r"^model\.layers\.(\d+)\.mlp\.down_proj\.weight$", r"model.transformer.blocks.\1.ff_out.weight"),
    (r"^model\.layers\.(\d+)\.input_layernorm\.weight$", r"model.transformer.blocks.\1.attn_norm.weight"),
    (r"^model\.layers\.(\d+)\.post_attention_layernorm\.weight$", r"model.transformer.blocks.\1.ff_norm.weight"),
)

FAMILIES: dict[str, Family] = {
    "fillgap": Family("fillgap"),
    "qwen2": Family("qwen2", defaults={"attention_bias": True, "shift_logits": True}),
    "dream": Family("dream", defaults={"attention_bias": True, "shift_logits": True}),
    "llama": Family("llama", defaults={"attention_bias": False, "shift_logits": False}),
    "llada": Family(
        "llada",
        config_keys={
            "hidden_size": "d_model",
            "num_attention_heads": "n_heads",
            "num_key_value_heads": "n_kv_heads",
            "num_hidden_layers": "n_layers",
            "intermediate_size": "mlp_hidden_size",
            "vocab_size": "embedding_size",
            "attention_bias": "include_qkv_bias",
            "tie_word_embeddings": "weight_tying",
            "max_position_embeddings": "max_sequence_length",
        },
        defaults={"attention_bias": False, "shift_logits": False, "tie_word_embeddings": False},
        tensors=_LLADA_TENSORS,
    ),
}


class UnknownArchitecture(ValueError):
    pass


def family_of(config: dict) -> Family:
    kind = str(config.get("model_type", "")).lower()
    if kind not in FAMILIES:
        raise UnknownArchitecture(
            f"model_type {config.get('model_type')!r} (architectures {config.get('architectures')}) is not one of "
            f"{', '.join(sorted(FAMILIES))}"
        )
    return FAMILIES[kind]


def our_config(config: dict) -> dict:
    """The config with our field names: their keys renamed, implicit values filled in."""
    fam = family_of(config)
    out = {**fam.defaults, **config}
    for ours, theirs in fam.config_keys.items():
        if theirs in config and config[theirs] is not None:
            out[ours] = config[theirs]
    if fam.name == "llada" and out.get("num_key_value_heads") is None:
        out["num_key_value_heads"] = out["num_attention_heads"]
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    if "rope_theta" not in config and isinstance(rope, dict) and "rope_theta" in rope:
        out["rope_theta"] = rope["rope_theta"]
    if out.get("num_key_value_heads") is None:
        out["num_key_value_heads"] = out.get("num_attention_heads")
    return out


def their_name(family: Family, ours: str) -> str:
    for pattern, template in family.tensors:
        if re.match(pattern, ours):
            return re.sub(pattern, template, ours)
    return ours
