"""What google/diffusiongemma-26B-A4B-it publishes, as plain data, each fact with where it was read.

Nothing is downloaded: the hub page cannot be reached from here. The config below is the
checkpoint's config.json as two independent projects quote it key for key in their tests ("literal
snippet of the real checkpoint config.json"): an MLX port's Rust test (stored file id 54494507217,
text_config and vision_config in full; it adds MLX's own `quantization` block and folds
generation_config.json in, both left out here) and a Rust crate's `REAL_CONFIG` (stored file id
62094311603: the same values; it adds position_embedding_size 10240 and default_output_length 280
to vision_config). Where they differ, the eos list: [1, 106, 50] in the first and in Gemma 4
26B-A4B's own config (stored file id 70198611268 checks `"eos_token_id": [1, 106, 50]`), [1, 106]
in the second; [1, 106, 50] is kept. Keys neither shows (transformers_version, dtype at the root)
are not invented. The sizes agree with the vLLM recipe (recipes.vllm.ai/Google/diffusiongemma-26B-A4B-it:
128 experts top-8, 256-token canvas, entropy_bound 0.1, up to 48 steps) and the sglang cookbook
(25.2B total, 3.8B active, 30 layers, sliding window 1024, vocabulary 262K).
"""

from __future__ import annotations

from typing import Any

_LAYERS = (["sliding_attention"] * 5 + ["full_attention"]) * 5

CONFIG: dict[str, Any] = {
    "architectures": ["DiffusionGemmaForBlockDiffusion"],
    "boi_token_id": 255999,
    "canvas_length": 256,
    "eoi_token_id": 258882,
    "eos_token_id": [1, 106, 50],
    "image_token_id": 258880,
    "model_type": "diffusion_gemma",
    "text_config": {
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 2,
        "dtype": "bfloat16",
        "eos_token_id": 1,
        "final_logit_softcapping": 30.0,
        "global_head_dim": 512,
        "head_dim": 256,
        "hidden_activation": "gelu_pytorch_tanh",
        "hidden_size": 2816,
        "initializer_range": 0.02,
        "intermediate_size": 2112,
        "layer_types": _LAYERS,
        "max_position_embeddings": 262144,
        "model_type": "diffusion_gemma_text",
        "moe_intermediate_size": 704,
        "num_attention_heads": 16,
        "num_experts": 128,
        "num_global_key_value_heads": 2,
        "num_hidden_layers": 30,
        "num_key_value_heads": 8,
        "pad_token_id": 0,
        "rms_norm_eps": 1e-06,
        "rope_parameters": {
            "full_attention": {"partial_rotary_factor": 0.25, "rope_theta": 1000000.0, "rope_type": "proportional"},
            "sliding_attention": {"rope_theta": 10000.0, "rope_type": "default"},
        },
        "sliding_window": 1024,
        "tie_word_embeddings": True,
        "top_k_experts": 8,
        "use_bidirectional_attention": "vision",
        "vocab_size": 262144,
    },
    "tie_word_embeddings": True,
    "vision_config": {
        "default_output_length": 280,
        "global_head_dim": 72,
        "head_dim": 72,
        "hidden_size": 1152,
        "intermediate_size": 4304,
        "model_type": "gemma4_vision",
        "num_attention_heads": 16,
        "num_hidden_layers": 27,
        "num_key_value_heads": 16,
        "patch_size": 16,
        "pooling_kernel_size": 3,
        "position_embedding_size": 10240,
        "rms_norm_eps": 1e-06,
        "rope_parameters": {"rope_theta": 100.0, "rope_type": "default"},
        "standardize": True,
        "use_clipped_linears": False,
    },
    "vision_soft_tokens_per_image": 280,
}

# generation_config.json: the same MLX test quotes it (folded into its config); the vLLM recipe
# confirms "The checkpoint's generation_config.json sets max_tokens: 256". The sampler block is
# written the way transformers serialises EntropyBoundSamplerConfig (a dict with `_cls_name`,
# generation_diffusion_gemma.py _resolve_dataclasses).
GENERATION_CONFIG: dict[str, Any] = {
    "confidence_threshold": 0.005,
    "eos_token_id": [1, 106, 50],
    "max_denoising_steps": 48,
    "max_new_tokens": 256,
    "pad_token_id": 0,
    "sampler_config": {"_cls_name": "EntropyBoundSamplerConfig", "entropy_bound": 0.1},
    "stability_threshold": 1,
    "t_max": 0.8,
    "t_min": 0.4,
}

# Gemma 4's special and control tokens at their ids. pad/eos/bos/image/boi/eoi: the issue and the
# config above; <|tool>..<|"|> 46-52, <|channel> 100, <channel|> 101, <|turn> 105, <turn|> 106 and
# "\n" 107: a Gemma 4 vocabulary subset in an MLX server's tests (stored file id 54533858729) and a
# marker check against google/gemma-4-E2B-it's tokenizer (stored file id 61652862736); <unk> 3 and
# <|think|> 98: a Gemma 4 tokenizer check (stored file id 55287459612); the audio/video markers and
# the image marker names: a Gemma 4 processing test (stored file id 53210517612). <mask> 4 is
# Gemma's (Gemma 3 vocabularies hold it there); no source showed Gemma 4's id 4, so it is the one
# id here taken by analogy.
SPECIAL_TOKENS: dict[str, int] = {
    "<pad>": 0,
    "<eos>": 1,
    "<bos>": 2,
    "<unk>": 3,
    "<mask>": 4,
    "<|tool>": 46,
    "<tool|>": 47,
    "<|tool_call>": 48,
    "<tool_call|>": 49,
    "<|tool_response>": 50,
    "<tool_response|>": 51,
    '<|"|>': 52,
    "<|think|>": 98,
    "<|channel>": 100,
    "<channel|>": 101,
    "<|turn>": 105,
    "<turn|>": 106,
    "<|image>": 255999,
    "<|audio>": 256000,
    "<|image|>": 258880,
    "<|audio|>": 258881,
    "<image|>": 258882,
    "<audio|>": 258883,
    "<|video|>": 258884,
}
NEWLINE_ID = 107  # "\n" is an added, non-special token in Gemma 4's vocabulary (see above)
END_OF_TURN = "<turn|>"

# The checkpoint's shards: the 4-shard index an MLX adapter's fixture mirrors (stored file id
# 70655503166: model-0000N-of-00004.safetensors, tensors named model.decoder.*,
# model.encoder.embed_vision.*, model.encoder.vision_tower.*: the encoder's text weights are tied
# to the decoder's and not stored).
SHARDS = 4
