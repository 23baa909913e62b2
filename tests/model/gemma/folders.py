"""Tiny random DiffusionGemma folders shaped like the google/diffusiongemma-26B-A4B-it download.

A folder holds the published config.json (tests/model/gemma/published.py) key for key with only
the sizes shrunk (at least 4 experts, top-2, one sliding and one full layer, a 32-token canvas; the
vocabulary keeps its real 262,144 ids so every published special id is valid), the weights as
transformers' save_pretrained names them (model.decoder.*, the vision tower and its projector
under model.encoder.*; the encoder's text weights and lm_head tied to the decoder's and not stored,
unless untied) in bf16 shards with model.safetensors.index.json, a Gemma-layout tokenizer.json, a
tokenizer_config.json, chat_template.jinja and the published generation_config.json.

No vocabulary can be downloaded, so the tokenizer is synthetic with Gemma's layout (the layout of
Gemma's tokenizer.json: spaces normalised to "▁", byte-fallback BPE with <unk>, <bos> prepended
by the post-processor): a small BPE trained on standard-library Python, the 256 byte tokens, the
published special tokens at their ids, and filler entries up to the real size.

The random weights are transformers' own init (DiffusionGemmaForBlockDiffusion built from the
config under `seed`); `scale` multiplies every matrix (embeddings, projections, experts, router),
which sharpens the logits so the entropy bound accepts several tokens per step.
"""

from __future__ import annotations

import copy
import functools
import json
import sysconfig
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import save_file
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from tests.model.gemma.published import CONFIG, GENERATION_CONFIG, NEWLINE_ID, SPECIAL_TOKENS

if TYPE_CHECKING:
    from transformers import DiffusionGemmaConfig, DiffusionGemmaForBlockDiffusion

VOCAB_SIZE = 262144
TRAINED_VOCAB = 1200
BYTES_AT = 108  # <0x00>..<0xFF> follow "\n" (107); Gemma 4's own byte ids were not seen
CANVAS = 32
TEXT_SIZES: dict[str, Any] = {  # published key -> tiny value; every other key keeps its published value
    "hidden_size": 32,
    "intermediate_size": 48,
    "moe_intermediate_size": 16,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_global_key_value_heads": 1,
    "head_dim": 8,
    "global_head_dim": 16,
    "num_hidden_layers": 2,
    "layer_types": ["sliding_attention", "full_attention"],
    "sliding_window": 16,
    "num_experts": 4,
    "top_k_experts": 2,
}
VISION_SIZES: dict[str, Any] = {
    "hidden_size": 16,
    "intermediate_size": 24,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
    "head_dim": 8,
    "global_head_dim": 8,
    "position_embedding_size": 32,
}
# Vision tensors a loader leaves out, as they appear in the folder.
VISION_PREFIXES = ("model.encoder.vision_tower.", "model.encoder.embed_vision.")

# A stand-in for Gemma 4's chat template (its text could not be downloaded), written from what the
# sources show of a rendered prompt: "<bos><|turn>user\n...<turn|>\n<|turn>model\n", and with
# thinking off an empty thought channel after it (the ids 2, 105, 2364, 107, ..., 106, 107, 105,
# 4368, 107, 100, 45518, 107, 101 of a prompt in stored file id 54494507217).
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% if enable_thinking is defined and enable_thinking %}<|turn>system\n<|think|><turn|>\n{% endif %}"
    "{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "<|turn>{{ role }}\n{{ message['content'] | trim }}<turn|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|turn>model\n"
    "{% if not (enable_thinking is defined and enable_thinking) %}<|channel>thought\n<channel|>{% endif %}"
    "{% endif %}"
)


# --- config ---------------------------------------------------------------------------------------


def shrunk_config(*, tied: bool = True, canvas: int = CANVAS, text: dict[str, Any] | None = None) -> dict[str, Any]:
    """config.json: the published keys, sizes shrunk; `text` overrides text_config keys."""
    config = copy.deepcopy(CONFIG)
    config["canvas_length"] = canvas
    config["tie_word_embeddings"] = tied
    config["text_config"].update(copy.deepcopy(TEXT_SIZES))
    config["text_config"]["tie_word_embeddings"] = tied
    config["text_config"].update(text or {})
    config["vision_config"].update(VISION_SIZES)
    return config


def tiny_config(**kwargs: Any) -> DiffusionGemmaConfig:
    """The transformers config of a tiny DiffusionGemma (shrunk_config's keywords), SDPA attention."""
    from transformers import DiffusionGemmaConfig

    config = DiffusionGemmaConfig.from_dict(shrunk_config(**kwargs))
    config._attn_implementation = "sdpa"
    return config


def tiny_model(*, scale: float = 1.0, seed: int = 0, **kwargs: Any) -> DiffusionGemmaForBlockDiffusion:
    """A tiny random DiffusionGemmaForBlockDiffusion in float32, eval mode (the in-memory twin of
    `build`'s folder: the same seed and scale give the same weights, before the bf16 rounding)."""
    from transformers import DiffusionGemmaForBlockDiffusion

    torch.manual_seed(seed)
    model = DiffusionGemmaForBlockDiffusion(tiny_config(**kwargs))
    if scale != 1.0:
        with torch.no_grad():
            for param in model.parameters():
                if param.ndim >= 2:
                    param.mul_(scale)
    return model.eval()


def stored_state(
    model: DiffusionGemmaForBlockDiffusion, dtype: torch.dtype = torch.bfloat16
) -> dict[str, torch.Tensor]:
    """The tensors save_pretrained stores: every state-dict entry but the tied copies."""
    tied = set(getattr(model, "all_tied_weights_keys", None) or {})
    return {k: v.detach().to(dtype).contiguous().clone() for k, v in model.state_dict().items() if k not in tied}


@functools.lru_cache(maxsize=8)
def _state(tied: bool, canvas: int, text: str, scale: float, seed: int) -> dict[str, torch.Tensor]:
    """stored_state of tiny_model, kept for the next folder with the same weights (tensors are not modified)."""
    return stored_state(tiny_model(scale=scale, seed=seed, tied=tied, canvas=canvas, text=json.loads(text) or None))


# --- tokenizer ------------------------------------------------------------------------------------


def _python_source() -> list[str]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    names = ("textwrap.py", "shlex.py", "fnmatch.py", "string/__init__.py")
    return [(stdlib / name).read_text() for name in names if (stdlib / name).is_file()]


@functools.cache
def _trained_bpe() -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """(pieces, merges) of a small "▁"-space BPE trained on standard-library Python."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.Replace(" ", "▁")
    # training splits at newlines and before each "▁" so pieces stay word-sized; the written
    # tokenizer has Gemma's own (near no-op) split, and can only ever apply these merges
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split("\n", "removed"), pre_tokenizers.Split("▁", "merged_with_next")]
    )
    trainer = trainers.BpeTrainer(vocab_size=TRAINED_VOCAB, special_tokens=["<unk>"], show_progress=False)
    tok.train_from_iterator(_python_source(), trainer=trainer)
    model = json.loads(tok.to_str())["model"]
    pieces = tuple(p for p in sorted(model["vocab"], key=model["vocab"].__getitem__) if p != "<unk>")
    merges = tuple(tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"])
    return pieces, merges  # type: ignore[return-value]


def vocabulary() -> dict[str, int]:
    """Ids 0..262143: the published specials at their ids, "\\n" at 107, the byte tokens, the trained
    pieces, and "<unusedN>" fillers elsewhere (no merge reaches a filler, so no text encodes to one)."""
    pieces, _ = _trained_bpe()
    names: list[str | None] = [None] * VOCAB_SIZE
    for text, tid in SPECIAL_TOKENS.items():
        names[tid] = text
    names[NEWLINE_ID] = "\n"
    for b in range(256):
        names[BYTES_AT + b] = f"<0x{b:02X}>"
    free = (i for i in range(BYTES_AT + 256, VOCAB_SIZE) if names[i] is None)
    for piece, tid in zip(pieces, free, strict=False):
        names[tid] = piece
    out = {name if name is not None else f"<unused{i}>": i for i, name in enumerate(names)}
    assert len(out) == VOCAB_SIZE, "a trained piece collides with a placed token"
    return out


@functools.cache
def tokenizer_json() -> str:
    """tokenizer.json's text (built once per process: 262k entries take a second or two)."""
    _, merges = _trained_bpe()
    bpe = models.BPE(vocab=vocabulary(), merges=list(merges), unk_token="<unk>", byte_fallback=True, fuse_unk=True)
    tok = Tokenizer(bpe)
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.pre_tokenizer = pre_tokenizers.Split(" ", "merged_with_previous")
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 2)])
    for text, tid in sorted(SPECIAL_TOKENS.items(), key=lambda kv: kv[1]):
        tok.add_special_tokens([AddedToken(text, special=True, normalized=False)])
        assert tok.token_to_id(text) == tid, (text, tid)
    tok.add_tokens([AddedToken("\n", special=False, normalized=False)])
    return tok.to_str()


def _tokenizer_config(template_inside: bool) -> dict[str, Any]:
    # transformers 5 writes these keys for a tokenizers-backed GemmaTokenizer; the turn and channel
    # markers as Gemma 4's tokenizer metadata names them (sot/eot/soc/eoc/think, stored file id 51791827672)
    config: dict[str, Any] = {
        "backend": "tokenizers",
        "bos_token": "<bos>",
        "eos_token": "<eos>",
        "pad_token": "<pad>",
        "unk_token": "<unk>",
        "mask_token": "<mask>",
        "boi_token": "<|image>",
        "eoi_token": "<image|>",
        "image_token": "<|image|>",
        "sot_token": "<|turn>",
        "eot_token": "<turn|>",
        "soc_token": "<|channel>",
        "eoc_token": "<channel|>",
        "think_token": "<|think|>",
        "clean_up_tokenization_spaces": False,
        "model_max_length": CONFIG["text_config"]["max_position_embeddings"],
        "padding_side": "left",
        "tokenizer_class": "GemmaTokenizer",
    }
    if template_inside:
        config["chat_template"] = CHAT_TEMPLATE
    return config


# --- the folder -----------------------------------------------------------------------------------


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def write_weights(folder: Path, state: dict[str, torch.Tensor], shards: int) -> None:
    """model.safetensors, or `shards` shards with model.safetensors.index.json, as save_pretrained names them."""
    names = list(state)
    if shards == 1:
        save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
        return
    weight_map: dict[str, str] = {}
    total = 0
    for i in range(shards):
        part = names[i * len(names) // shards : (i + 1) * len(names) // shards]
        file = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        save_file({k: state[k] for k in part}, str(folder / file), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(part, file))
        total += sum(state[k].numel() * state[k].element_size() for k in part)
    _write_json(folder / "model.safetensors.index.json", {"metadata": {"total_size": total}, "weight_map": weight_map})


def build(
    root: Path,
    *,
    tied: bool = True,
    sharded: bool = True,
    vision: bool = True,
    template: bool = True,
    generation: bool = True,
    tokenizer_config: bool = True,
    template_in_config: bool = False,
    pickle_only: bool = False,
    scale: float = 1.0,
    seed: int = 0,
    canvas: int = CANVAS,
    text: dict[str, Any] | None = None,
    extra: dict[str, torch.Tensor] | None = None,
    name: str = "diffusiongemma-tiny",
) -> Path:
    """Write a tiny random DiffusionGemma folder at root/name and return its path.

    tied: encoder, decoder and head share weights (the published setting); untied stores the
    encoder's text weights and lm_head too. sharded: 4 shards with an index, else one
    model.safetensors. vision: the vision tower's and projector's tensors are stored (the
    published folder has them). template / generation / tokenizer_config: write
    chat_template.jinja / generation_config.json / tokenizer_config.json (template_in_config:
    the template inside tokenizer_config.json instead of its own file). pickle_only: the weights
    as a pytorch_model.bin pickle and no safetensors. scale: multiplies every weight matrix.
    text: text_config overrides (e.g. more layers); extra: tensors added to the first shard as is."""
    folder = Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    config = shrunk_config(tied=tied, canvas=canvas, text=text)
    _write_json(folder / "config.json", config)
    if generation:
        _write_json(folder / "generation_config.json", GENERATION_CONFIG)
    (folder / "tokenizer.json").write_text(tokenizer_json())
    if tokenizer_config:
        _write_json(folder / "tokenizer_config.json", _tokenizer_config(template_in_config))
    if template and not template_in_config:
        (folder / "chat_template.jinja").write_text(CHAT_TEMPLATE)
    state = dict(_state(tied, canvas, json.dumps(text or {}, sort_keys=True), scale, seed))
    if not vision:
        state = {k: v for k, v in state.items() if not k.startswith(VISION_PREFIXES)}
    state.update(extra or {})
    if pickle_only:
        torch.save(
            {k: v.float() for k, v in state.items() if not k.startswith(VISION_PREFIXES)}, folder / "pytorch_model.bin"
        )
        return folder
    write_weights(folder, state, 4 if sharded else 1)
    return folder
