"""What the hub checkpoints publish, as plain data, each fact with where it was read.

Nothing here is downloaded at test time; the values were read from the stored copies of the hub
pages and upstream code that the citations name. UNKNOWN marks a fact no source showed; where a
checkpoint's own file could not be seen, the nearest documented one stands in and `note` says so.
Never fill an UNKNOWN by guessing: a fixture built on a guessed id proves nothing.

Citations: HF = https://huggingface.co/<repo>/... ; GH = https://github.com/<repo>/blob/main/...
"""

from __future__ import annotations

from typing import Any

UNKNOWN = "unknown"

# --- Qwen2.5 (Dream, Dream-Coder, DiffuCoder, DreamOn, Open-dCoder) -------------------------------

# added_tokens.json of the Dream line: Qwen2.5's 22 added tokens plus Dream's <|beginoftext|>/<|mask|>.
# Source: HF Zigeng/dParallel_Dream_7B_Instruct commit 675846c (a re-upload of Dream-v0-Instruct-7B,
# added_tokens.json shown in full). The same 24 entries written with json.dumps(indent=2,
# sort_keys=True) are 656 bytes, the size HF lists for apple/DiffuCoder-7B-Base/added_tokens.json;
# with <|dlm_pad|> 151667 added they are 681 bytes, the size listed for DiffuCoder-7B-Instruct and
# -cpGRPO (HF apple/DiffuCoder-7B-*/tree/main).
_QWEN_NAMES = (
    "<|endoftext|> <|im_start|> <|im_end|> <|object_ref_start|> <|object_ref_end|> <|box_start|> <|box_end|> "
    "<|quad_start|> <|quad_end|> <|vision_start|> <|vision_end|> <|vision_pad|> <|image_pad|> <|video_pad|> "
    "<tool_call> </tool_call> <|fim_prefix|> <|fim_middle|> <|fim_suffix|> <|fim_pad|> <|repo_name|> <|file_sep|>"
)
QWEN_ADDED: dict[str, int] = dict(zip(_QWEN_NAMES.split(), range(151643, 151665), strict=True))
DREAM_ADDED: dict[str, int] = {**QWEN_ADDED, "<|beginoftext|>": 151665, "<|mask|>": 151666}
DIFFUCODER_PAD = {"<|dlm_pad|>": 151667}  # see QWEN_ADDED; pad_token_id 151667 also in GH
# pengzhangzhi-style registry (stored file id 70164973735: "the tokenizer's pad is <|dlm_pad|>").
# DreamOn: "<|expand|> at id 151667 (see added_tokens.json)" (stored file id 60572321816, a DreamOn
# wrapper). <|delete|>'s id: UNKNOWN (no source showed it).
DREAMON_ADDED: dict[str, int | str] = {**DREAM_ADDED, "<|expand|>": 151667, "<|delete|>": UNKNOWN}

# Which added tokens tokenizer_config.json marks "special": true. Qwen2.5's convention (HF
# smoorsmith/peft_test/tokenizer_config.json shows 151643-151651 special): ids up to 151656 are
# special, the tool-call/FIM/repo tokens 151657-151664 are not. Dream's own tokenizer_config.json
# was not seen; its two tokens are marked special here because Dream's code treats them as such.
QWEN_NOT_SPECIAL = frozenset(range(151657, 151665))

# --- config.json ----------------------------------------------------------------------------------

# HF apple/DiffuCoder-7B-Instruct/resolve/main/config.json, key for key. json.dumps(indent=2) of it
# plus a newline is 875 bytes, the size HF lists, so nothing is missing.
DIFFUCODER_INSTRUCT_CONFIG: dict[str, Any] = {
    "architectures": ["DreamModel"],
    "attention_dropout": 0.0,
    "auto_map": {"AutoConfig": "configuration_dream.DreamConfig", "AutoModel": "modeling_dream.DreamModel"},
    "bos_token_id": 151643,
    "eos_token_id": 151643,
    "hidden_act": "silu",
    "hidden_size": 3584,
    "initializer_range": 0.02,
    "intermediate_size": 18944,
    "mask_token_id": 151666,
    "max_position_embeddings": 131072,
    "max_window_layers": 28,
    "model_type": "Dream",
    "num_attention_heads": 28,
    "num_hidden_layers": 28,
    "num_key_value_heads": 4,
    "pad_token_id": 151643,
    "rms_norm_eps": 1e-06,
    "rope_scaling": None,
    "rope_theta": 1000000.0,
    "sliding_window": None,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.51.3",
    "use_cache": False,
    "use_mrope": False,
    "use_sliding_window": False,
    "vocab_size": 152064,
}

# HF smoorsmith/Dream-coder-test/blob/main/config.json: an RL fine-tune saved from
# Dream-Coder-v0-Instruct-7B (its _name_or_path is a local path, dropped here). Dream-Coder's own
# config.json was not seen; bos_token_id 151665 for Dream-Coder-v0-Instruct-7B is confirmed by the
# stored registry file id 70164973735.
DREAM_CODER_CONFIG: dict[str, Any] = {
    "architectures": ["DreamModel"],
    "attention_dropout": 0.0,
    "auto_map": {"AutoConfig": "configuration_dream.DreamConfig", "AutoModel": "modeling_dream.DreamModel"},
    "bos_token_id": 151665,
    "eos_token_id": 151643,
    "hidden_act": "silu",
    "hidden_size": 3584,
    "initializer_range": 0.02,
    "intermediate_size": 18944,
    "mask_token_id": 151666,
    "max_position_embeddings": 32768,
    "max_window_layers": 28,
    "model_type": "Dream",
    "num_attention_heads": 28,
    "num_hidden_layers": 28,
    "num_key_value_heads": 4,
    "pad_token_id": 151643,
    "rms_norm_eps": 1e-06,
    "rope_scaling": None,
    "rope_theta": 1000000.0,
    "sliding_window": None,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.46.2",
    "use_cache": True,
    "use_sliding_window": False,
    "vocab_size": 152064,
}

# LLaDA-8B-Instruct config.json. Keys and values up to "rope_full_precision" from HF
# Proximile/LLaDA-8B-Tools/blob/main/config.json (a copy whose auto_map points at
# GSAI-ML/LLaDA-8B-Instruct; auto_map restored to the upstream form shown in HF
# GSAI-ML/LLaDA-8B-Instruct commit 6059b30). The tail (rope_theta ... weight_tying) from a shrunk
# copy of the same file (stored file id 1282028707) with the 8B values checked against stored
# file id 70134129601 (rope_theta 500000.0, use_cache False, vocab_size/embedding_size 126464).
LLADA_CONFIG: dict[str, Any] = {
    "activation_type": "silu",
    "alibi": False,
    "alibi_bias_max": 8.0,
    "architectures": ["LLaDAModelLM"],
    "attention_dropout": 0.0,
    "attention_layer_norm": False,
    "attention_layer_norm_with_affine": True,
    "auto_map": {
        "AutoConfig": "configuration_llada.LLaDAConfig",
        "AutoModelForCausalLM": "modeling_llada.LLaDAModelLM",
        "AutoModel": "modeling_llada.LLaDAModelLM",
    },
    "bias_for_layer_norm": False,
    "block_group_size": 1,
    "block_type": "llama",
    "d_model": 4096,
    "embedding_dropout": 0.0,
    "embedding_size": 126464,
    "eos_token_id": 126081,
    "flash_attention": False,
    "include_bias": False,
    "include_qkv_bias": False,
    "init_cutoff_factor": None,
    "init_device": "meta",
    "init_fn": "mitchell",
    "init_std": 0.02,
    "input_emb_norm": False,
    "layer_norm_type": "rms",
    "layer_norm_with_affine": True,
    "mask_token_id": 126336,
    "max_sequence_length": 4096,
    "mlp_hidden_size": 12288,
    "mlp_ratio": 4,
    "model_type": "llada",
    "multi_query_attention": None,
    "n_heads": 32,
    "n_kv_heads": 32,
    "n_layers": 32,
    "pad_token_id": 126081,
    "precision": "amp_bf16",
    "residual_dropout": 0.0,
    "rms_norm_eps": 1e-05,
    "rope": True,
    "rope_full_precision": True,
    "rope_theta": 500000.0,
    "scale_logits": False,
    "transformers_version": "4.46.3",
    "use_cache": False,
    "vocab_size": 126464,
    "weight_tying": False,
}

# Open-dCoder 0.5B is Qwen2.5-Coder-0.5B trained on (GH pengzhangzhi/Open-dLLM
# configs/pretrain/qwen2_5_coder_500M.yaml: model_path Qwen/Qwen2.5-Coder-0.5B) and loaded with
# transformers' Qwen2ForCausalLM layout (GH .../sample.py). fredzzp/open-dcoder-0.5B's own
# config.json was not seen; the base model's (HF Hachipo/Qwen2.5-Coder-0.5B-Instruct_MIFT-ja_...
# commit e7d7790, saved from Qwen/Qwen2.5-Coder-0.5B-Instruct, _name_or_path dropped) stands in.
# It carries no mask_token_id: the mask is declared only in the tokenizer files (OPEN_DCODER_MASK).
OPEN_DCODER_CONFIG: dict[str, Any] = {
    "architectures": ["Qwen2ForCausalLM"],
    "attention_dropout": 0.0,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
    "hidden_act": "silu",
    "hidden_size": 896,
    "initializer_range": 0.02,
    "intermediate_size": 4864,
    "max_position_embeddings": 32768,
    "max_window_layers": 24,
    "model_type": "qwen2",
    "num_attention_heads": 14,
    "num_hidden_layers": 24,
    "num_key_value_heads": 2,
    "rms_norm_eps": 1e-06,
    "rope_scaling": None,
    "rope_theta": 1000000.0,
    "sliding_window": None,
    "tie_word_embeddings": True,
    "torch_dtype": "float32",
    "transformers_version": "4.47.1",
    "use_cache": True,
    "use_sliding_window": False,
    "vocab_size": 151936,
}
# Open-dLLM adds the mask with tokenizer.add_special_tokens({"mask_token": "<M>"}) when the
# tokenizer has none (GH pengzhangzhi/Open-dLLM train scripts, stored file ids 17996200106,
# 58507870856), so it lands at the next free id: the Qwen2.5-Coder tokenizer's last id is 151664.
OPEN_DCODER_MASK = {"<M>": 151665}

# --- per checkpoint -------------------------------------------------------------------------------

_QWEN_TOKENIZER_FILES = (
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)  # no tokenizer.json (issue 15 item 2; HF trees)
_DIFFUCODER_TREE = "HF apple/DiffuCoder-7B-*/tree/main: 4 shards, added_tokens.json, merges.txt, vocab.json"
_DREAM_NOTE = (
    "Dream-v0's own config.json was not seen; DiffuCoder-7B-Instruct's (same Dream "
    "architecture, same Qwen2.5-7B shape) stands in"
)

CHECKPOINTS: dict[str, dict[str, Any]] = {
    "Dream-v0-Base-7B": {
        "repo": "Dream-org/Dream-v0-Base-7B",
        "family": "dream",
        "config": DIFFUCODER_INSTRUCT_CONFIG,
        "note": _DREAM_NOTE,
        "added_tokens": DREAM_ADDED,
        "special": {"bos": "<|beginoftext|>", "eos": "<|endoftext|>", "pad": "<|endoftext|>", "mask": "<|mask|>"},
        "special_source": "pad/eos 151643 for Dream-v0-Instruct: stored registry file id 70164973735; bos "
        "<|beginoftext|> as DreamOn's README uses tokenizer.bos_token_id (Dream-v0's tokenizer_config.json "
        "not seen). config.json's bos_token_id (151643 in DiffuCoder's) is EOS, not this bos",
        "tokenizer_files": _QWEN_TOKENIZER_FILES,
        "shards": 4,  # HF Zigeng/dParallel_Dream_7B_Instruct commit 675846c lists model-0000{1..4}-of-00004
        "generation_config": UNKNOWN,
        "context_tokens": 2048,  # "the context length (input+output) of Dream currently is 2048" (DreamOn README)
        "start": "bos",  # [bos] + prefix + masks + suffix + [eos] (DreamOn README, eval/generator.py)
        "filler": "eos",  # DreamOn eval pads the canvas with eos_id to the right (eval/generator.py)
        "sampler": {"alg": "entropy", "steps": "= max_new_tokens", "temperature": 0.2, "top_p": 0.95},
        "sampler_source": "GH HKUNLP/Dream README (stored page github.onedrive11.workers.dev/HKUNLP/Dream)",
    },
    "DiffuCoder-7B-Instruct": {
        "repo": "apple/DiffuCoder-7B-Instruct",
        "family": "dream",
        "config": DIFFUCODER_INSTRUCT_CONFIG,
        "added_tokens": {**DREAM_ADDED, **DIFFUCODER_PAD},
        "special": {"eos": "<|endoftext|>", "pad": "<|dlm_pad|>", "mask": "<|mask|>", "bos": UNKNOWN},
        "special_source": "pad <|dlm_pad|> 151667 vs config pad_token_id 151643: stored registry file id "
        "70164973735; model card: 'with a newly introduced pad token' (HF apple/DiffuCoder-7B-Instruct)",
        "tokenizer_files": _QWEN_TOKENIZER_FILES,
        "shards": 4,
        "shards_source": _DIFFUCODER_TREE,
        "generation_config": UNKNOWN,  # 326 bytes per the HF tree; contents not seen
        "context_tokens": UNKNOWN,  # the issue states 2,048 for Dream/DiffuCoder; no DiffuCoder source seen
        "start": UNKNOWN,  # the card's chat example adds no BOS; no infilling example seen
        "filler": "<|dlm_pad|>",
        "sampler": {
            "alg": "entropy",
            "alg_temp": 0.0,
            "steps": "= max_new_tokens (TOKEN_PER_STEP 1)",
            "temperature": UNKNOWN,
            "top_p": UNKNOWN,
        },
        "sampler_source": "HF apple/DiffuCoder-7B-Instruct model card (excerpt cut before temperature)",
    },
    "DiffuCoder-7B-Base": {
        "repo": "apple/DiffuCoder-7B-Base",
        "family": "dream",
        "config": DIFFUCODER_INSTRUCT_CONFIG,
        "note": "config.json is 873 bytes (Instruct's is 875): one or two values differ, which is UNKNOWN",
        "added_tokens": DREAM_ADDED,
        "special": {"eos": "<|endoftext|>", "pad": "<|endoftext|>", "mask": "<|mask|>", "bos": UNKNOWN},
        "tokenizer_files": _QWEN_TOKENIZER_FILES,
        "shards": 4,
        "shards_source": _DIFFUCODER_TREE,
        "generation_config": UNKNOWN,
        "context_tokens": UNKNOWN,
        "start": UNKNOWN,
        "filler": "eos",
        "sampler": UNKNOWN,
    },
    "DiffuCoder-7B-cpGRPO": {
        "repo": "apple/DiffuCoder-7B-cpGRPO",
        "family": "dream",
        "config": DIFFUCODER_INSTRUCT_CONFIG,
        "note": "config.json is 879 bytes (Instruct's is 875): which values differ is UNKNOWN",
        "added_tokens": {**DREAM_ADDED, **DIFFUCODER_PAD},
        "special": {"eos": "<|endoftext|>", "pad": "<|dlm_pad|>", "mask": "<|mask|>", "bos": UNKNOWN},
        "tokenizer_files": _QWEN_TOKENIZER_FILES,
        "shards": 4,
        "shards_source": _DIFFUCODER_TREE,
        "generation_config": UNKNOWN,
        "context_tokens": UNKNOWN,
        "start": UNKNOWN,
        "filler": "<|dlm_pad|>",
        "sampler": UNKNOWN,
    },
    "Dream-Coder-v0-Instruct-7B": {
        "repo": "Dream-org/Dream-Coder-v0-Instruct-7B",
        "family": "dream",
        "config": DREAM_CODER_CONFIG,
        "added_tokens": DREAM_ADDED,
        "special": {"bos": "<|beginoftext|>", "eos": "<|endoftext|>", "pad": "<|endoftext|>", "mask": "<|mask|>"},
        "tokenizer_files": _QWEN_TOKENIZER_FILES,
        "shards": UNKNOWN,
        "generation_config": UNKNOWN,
        "context_tokens": UNKNOWN,
        "start": "bos",
        "filler": "eos",
        "sampler": UNKNOWN,
    },
    "DreamOn-v0-7B": {
        "repo": "Dream-org/DreamOn-v0-7B",
        "family": "dream",
        "config": DREAM_CODER_CONFIG,
        "note": "DreamOn's config.json was not seen; Dream-Coder's (released with it, DreamOn README) stands in",
        "added_tokens": DREAMON_ADDED,
        "special": {"bos": "<|beginoftext|>", "eos": "<|endoftext|>", "mask": "<|mask|>"},
        "tokenizer_files": _QWEN_TOKENIZER_FILES,
        "shards": UNKNOWN,
        "generation_config": UNKNOWN,
        "context_tokens": 2048,  # DreamOn README, "Parameters"
        "start": "bos",
        "filler": "eos",
        "never": ("<|expand|>", "<|delete|>"),  # generator.py subtracts 1e9 from expand's logit
        "sampler": {"alg": "entropy", "alg_temp": 0, "temperature": 0.2, "top_p": 0.9, "number_transfer_tokens": 1},
        "sampler_source": "GH yizhang-afk/dreamon readme.md Quickstart",
    },
    "Open-dCoder-0.5B": {
        "repo": "fredzzp/open-dcoder-0.5B",
        "family": "qwen2",
        "config": OPEN_DCODER_CONFIG,
        "note": "config.json and tokenizer file names of the upload not seen; the base model's stand in",
        "added_tokens": {**QWEN_ADDED, **OPEN_DCODER_MASK},
        "special": {"eos": "<|endoftext|>", "pad": "<|endoftext|>", "mask": "<M>", "bos": None},
        "special_source": "Qwen2.5-Coder base tokenizer: eos/pad <|endoftext|>, no bos (UNKNOWN whether "
        "Open-dLLM changed them); <M> from OPEN_DCODER_MASK",
        "tokenizer_files": (
            "tokenizer.json",
            "vocab.json",
            "merges.txt",
            "tokenizer_config.json",
            "special_tokens_map.json",
            "added_tokens.json",
        ),
        "shards": 1,  # 0.5B saves as one model.safetensors (save_hf_weights; UNKNOWN for the upload)
        "generation_config": UNKNOWN,
        "context_tokens": 4096,  # max_seq_len in configs/pretrain/qwen2_5_coder_500M.yaml
        "start": "none",  # eval_infill.py: tokenizer.encode(prefix, add_special_tokens=True) adds nothing
        "filler": "eos",  # eval_infill.py pads with tokenizer.pad_token_id (<|endoftext|>)
        "sampler": {"alg": "p2", "steps": 64, "temperature": 0.6, "top_p": 0.95, "alg_temp": 0.5},
        "sampler_source": "GH pengzhangzhi/Open-dLLM eval/eval_infill/run_eval.sh and eval_infill.py",
    },
    "LLaDA-8B-Instruct": {
        "repo": "GSAI-ML/LLaDA-8B-Instruct",
        "family": "llada",
        "config": LLADA_CONFIG,
        # <|eot_id|> 126348: LLaDA decoding code bans 126081 and 126348 as "eos/eot" (stored file id
        # 55207587401); token strings <|startoftext|>, <|eot_id|>, <|mdm_mask|> in LLaDA tooling
        # (stored file ids 70528829531, 69808049185). Header token ids: UNKNOWN.
        "added_tokens": {
            "<|startoftext|>": 126080,
            "<|endoftext|>": 126081,
            "<|mdm_mask|>": 126336,
            "<|eot_id|>": 126348,
        },
        "special": {"bos": "<|startoftext|>", "eos": "<|endoftext|>", "pad": "<|endoftext|>", "mask": "<|mdm_mask|>"},
        "tokenizer_files": ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"),
        "tokenizer_source": "HF GSAI-ML/LLaDA-8B-Instruct commit 6059b30 file list",
        "shards": 6,  # model-0000{1..6}-of-00006.safetensors, same commit
        # HF Fraser/LLaDA-8B-Base-gg2m generation_config.json (commit 'add LLaDA-8B-Base' by nieshen)
        "generation_config": {
            "_from_model_config": True,
            "bos_token_id": 126080,
            "eos_token_id": 126081,
            "transformers_version": "4.38.2",
        },
        "context_tokens": 4096,  # max_sequence_length
        "start": "bos",  # generate.py: tokenizer(prompt) adds <|startoftext|>
        "filler": "eos",  # SFT pads short answers with |EOS| (LLaDA paper, arXiv:2502.09992 sec. 2.3)
        "sampler": {
            "steps": 128,
            "gen_length": 128,
            "block_length": 32,
            "temperature": 0.0,
            "remasking": "low_confidence",
        },
        "sampler_source": "GH ML-GSAI/LLaDA generate.py main()",
    },
}
# LLaDA-8B-Base: same config keys (1.39 kB, HF GSAI-ML/LLaDA-8B-Base/tree/main), same 6 shards and
# generation_config; its special_tokens_map.json is 766 bytes vs Instruct's 747 (content UNKNOWN).
CHECKPOINTS["LLaDA-8B-Base"] = {**CHECKPOINTS["LLaDA-8B-Instruct"], "repo": "GSAI-ML/LLaDA-8B-Base"}
# Dream-v0-Instruct-7B: the Base entry with pad/eos as the registry gives them (same values).
CHECKPOINTS["Dream-v0-Instruct-7B"] = {**CHECKPOINTS["Dream-v0-Base-7B"], "repo": "Dream-org/Dream-v0-Instruct-7B"}
