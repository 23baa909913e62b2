"""Checkpoint families: how each names its config keys and tensors, in one table.

Every masked-diffusion family runs on the one architecture in `model.transformer` (Qwen2 layout,
bidirectional); a family only renames. Our names are the Hugging Face Qwen2/Llama ones.

- fillgap: our own checkpoints.
- qwen2 / dream: Dream 7B, Dream-Coder 7B, DiffuCoder 7B (model_type "Dream") and Open-dCoder
  0.5B (model_type "qwen2"). All were adapted from autoregressive Qwen and predict token i from
  the hidden state at i-1, so their logits are shifted (their generation code does
  `cat([logits[:, :1], logits[:, :-1]])`).
- llama: Llama-named tensors, no q/k/v bias, no shift.
- llada: LLaDA 8B (OLMo-style names under `model.transformer`; `ff_proj` is the SwiGLU gate).
- diffusion_gemma: DiffusionGemma (block diffusion: a causal encoder caches the prompt, a
  bidirectional decoder denoises a canvas). It does not run on `model.transformer`: its engine is
  "block-diffusion" (model/block_engine.py) on transformers' reference modules, loaded by
  model/gemma_load.py; only the token fields below apply to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Family:
    """How one family's checkpoints are read and prompted. Token fields name tokens by their text,
    or by role: "eos", "bos", "pad", "null" (the tokenizer's own token of that role)."""

    name: str
    config_keys: dict[str, str] = field(default_factory=dict)  # our ModelConfig field -> their key
    defaults: dict[str, Any] = field(default_factory=dict)  # our field values their configs leave implicit
    tensors: tuple[tuple[str, str], ...] = ()  # (our regex, their template), applied in order
    engine: str = "masked-diffusion"  # which engine in model/engine.py runs it
    start: str = "eos"  # what marks the start of a file in a window: "bos", "eos" or "none"
    # The token that pads the unused tail of a gap's length budget: the first of these the vocabulary
    # has. Candidates are cut at the first filler.
    filler: tuple[str, ...] = ("null",)
    never: tuple[str, ...] = ()  # tokens the sampler never chooses, besides the mask (DreamOn's edits)
    context_tokens: int | None = None  # the context it was trained at (None: the config's)
    sampler: dict[str, Any] = field(default_factory=dict)  # SamplerSettings a request leaves unset
    typing: dict[str, Any] = field(default_factory=dict)  # as-you-type: on top of `sampler`
    # config keys we cannot honour unless they hold one of these values; any other value is refused
    # (a rope dict is judged by its rope_type, a list entry by entry: model/checkpoint.py)
    supported: dict[str, tuple[Any, ...]] = field(default_factory=dict)


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

# The 7B recipes decode about one token per step in entropy order, or commit every token above
# 0.9 confidence each step (Fast-dLLM, arXiv:2505.22618); the threshold is the faster of the two.
_HUB_SAMPLER: dict[str, Any] = {"threshold": 0.9, "refine_rounds": 1}
_HUB_TYPING: dict[str, Any] = {"refine_rounds": 0, "dual_cache": True}
# What every Qwen2/Llama-style config may say and we still run: plain RoPE ("default" is how
# transformers 5 writes it), full attention in every layer (Dream's and Qwen2's configs carry
# use_sliding_window false and a sliding_window size, which is then unused), SiLU.
_ROPE_FLAGS: dict[str, tuple[Any, ...]] = {"rope_scaling": (None, "default"), "rope_parameters": (None, "default")}
_QWEN_FLAGS: dict[str, tuple[Any, ...]] = {
    **_ROPE_FLAGS,
    "use_sliding_window": (False, None),
    "layer_types": ("full_attention",),
    "use_mrope": (False, None),  # DiffuCoder's config carries it: Qwen2-VL's multimodal RoPE, off
    "hidden_act": ("silu",),
}

FAMILIES: dict[str, Family] = {
    # As you type: 4 steps, not the full profile's 8. With the dual cache every step after the first
    # is a pass over the gap's columns only, but at 16 columns it still costs a quarter of a full pass
    # on 2 CPU threads (Python and small-op overhead), so halving the steps cut a typing fill by a
    # third on 100 held-out typing positions (two interleaved runs: p50 -33% and -37%), fills offered
    # 24 -> 25 and 29 -> 24. 3 steps cut 43-45% but its quality is unmeasured.
    # Full quality (explicit requests) with the dual cache too: a placeholder body's fill (4 rows,
    # 8 steps and two refinement rounds, each round starting with a full pass) took p50 0.96 s
    # against 2.26 s without it on 10 held-out bodies, one worker, quiet machine (2026-12-02); with
    # one full pass for the whole fill (sampler option cache_refresh false) 0.87 s, so the rounds
    # keep theirs. Its pass@1 on the same HumanEval tasks: the model card's stage-5 section.
    # One refinement round as you type too (stage-6 weights, 8 layers, bf16 on an AVX-512 BF16 EPYC,
    # the bench's 100 typing positions through the worker, 2026-12-02): fills shown at the gate 0.14
    # went from 12 and 10 (two runs) to 20 and 17 at the same p50 (101-108 ms; p95 +20-45 ms), where
    # two lengths showed 21 at p50 131-221 ms and 6 or 8 steps 16-17 at 133-170 ms. The full profile
    # shows 29 there, at 1.1 s.
    # Two refinement rounds as you type, like the full profile (stage-7 weights, AMX, 2026-12-04):
    # with the blank-line budgets 8 and 16 (lsp/fill/settings.py TypingProfile), on the 200 seeded
    # HumanEval single-line tasks typed, fills shown at the gate 0.24 went from 123 to 132 (p50 158
    # -> 206 ms through the worker), and on the bench's 100 typing events from the end of the
    # debounce p50 74 ms, p95 213 ms (one round: 74 and 172). results/typing-profile/.
    "fillgap": Family(
        "fillgap", sampler={"dual_cache": True}, typing={"steps": 4, "refine_rounds": 2, "dual_cache": True}
    ),
    # Open-dCoder: no start marker, EOS pads. Its config keeps Qwen2.5-Coder's 32,768 positions;
    # it was trained at 4,096 (pengzhangzhi/Open-dLLM configs/pretrain/qwen2_5_coder_500M.yaml).
    "qwen2": Family(
        "qwen2",
        defaults={"attention_bias": True, "shift_logits": True},
        start="none",
        filler=("eos",),
        context_tokens=4096,
        sampler=_HUB_SAMPLER,
        typing=_HUB_TYPING,
        supported=_QWEN_FLAGS,
    ),
    # Dream, Dream-Coder, DiffuCoder, DreamOn: BOS starts a file; DiffuCoder-Instruct pads with
    # <|dlm_pad|>, the others with EOS; DreamOn's <|expand|>/<|delete|> resize its canvas, which
    # our fixed-budget rows do not do.
    "dream": Family(
        "dream",
        defaults={"attention_bias": True, "shift_logits": True},
        start="bos",
        filler=("<|dlm_pad|>", "eos"),
        never=("<|expand|>", "<|delete|>"),
        context_tokens=2048,
        sampler=_HUB_SAMPLER,
        typing=_HUB_TYPING,
        supported=_QWEN_FLAGS,
    ),
    "llama": Family(
        "llama",
        defaults={"attention_bias": False, "shift_logits": False},
        start="bos",
        filler=("eos",),
        sampler=_HUB_SAMPLER,
        typing=_HUB_TYPING,
        supported={**_ROPE_FLAGS, "hidden_act": ("silu",), "mlp_bias": (False, None)},
    ),
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
        start="bos",
        filler=("eos",),
        context_tokens=4096,
        sampler=_HUB_SAMPLER,
        typing=_HUB_TYPING,
        supported={
            # LLaDA-8B's config.json (OLMo-style) sets these; any other value is a block we do not build.
            "include_bias": (False,),
            "attention_layer_norm": (False,),
            "scale_logits": (False,),
            "rope_scaling": (None,),
            "rope": (True,),
            "alibi": (False,),
            "block_type": ("llama",),
            "block_group_size": (1,),
            "activation_type": ("silu",),
            "layer_norm_type": ("rms",),
            "layer_norm_with_affine": (True,),
            "bias_for_layer_norm": (False, None),
            "input_emb_norm": (False,),
            "multi_query_attention": (False, None),
            "clip_qkv": (None,),
        },
    ),
    # DiffusionGemma: <bos> starts the prompt, <pad> fills what follows an end of text on a canvas
    # (the reference pads after the first end id), and no token is withheld from the sampler (the
    # reference samples the whole vocabulary; parity with it needs the same).
    "diffusion_gemma": Family("diffusion_gemma", engine="block-diffusion", start="bos", filler=("pad", "eos")),
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
