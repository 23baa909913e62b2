"""Folders shaped like each family's hub download, written in a temp dir with random weights.

A folder holds the published config.json (tests/model/hub/published.py) key for key with only the
layer sizes shrunk (the vocabulary keeps its real size, so every published special id stays
valid), the real shard names with model.safetensors.index.json, a generation_config.json, and the
tokenizer files that family ships: Dream, Dream-Coder, DiffuCoder and DreamOn a slow Qwen2
tokenizer (vocab.json + merges.txt + added_tokens.json, no tokenizer.json), Open-dCoder and LLaDA a
tokenizer.json. No vocabulary can be downloaded, so each is synthetic: a byte-level BPE trained on
some Python source with Qwen2's pre-tokenizer, padded with filler entries up to the real size, with
the family's special tokens at their published ids and strings.

`bias` turns the random output head against us: the rows of the filler and of every special token
become large along one hidden direction each, so those ids win the argmax at some positions and a
test that finds no special token in a fill cannot have passed by luck.
"""

from __future__ import annotations

import copy
import functools
import json
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from model.families import FAMILIES, family_of, our_config, their_name
from model.transformer import DiffusionLM, ModelConfig
from tests.model.hub.published import CHECKPOINTS, QWEN_NOT_SPECIAL

# Qwen2's pre-tokenizer split (the "Split" regex of Qwen/Qwen2.5-* tokenizer.json), then byte-level.
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
TRAINED_VOCAB = 1200
SHRUNK = {  # their config key -> tiny value; every other key keeps its published value
    "dream": {
        "hidden_size": 64,
        "intermediate_size": 96,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_window_layers": 2,
    },
    "llada": {"d_model": 64, "mlp_hidden_size": 96, "n_layers": 2, "n_heads": 4, "n_kv_heads": 4},
}
SHRUNK["qwen2"] = SHRUNK["dream"]
# Specials the issue saw reach the editor, or that a family's sampler must never choose: their head
# rows are the ones `bias` pushes up, with the filler's and every role's (bos, eos, pad, mask).
LEAKY = ("<|im_end|>", "<|im_start|>", "<|dlm_pad|>", "<|eot_id|>", "<|expand|>", "<|delete|>", "<|fim_middle|>")
# Qwen2.5's tokenizer_config.json lists these as additional_special_tokens.
QWEN_ADDITIONAL = (
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)


@dataclass(frozen=True)
class HubFolder:
    name: str  # the checkpoint's key in published.CHECKPOINTS
    path: Path
    config: dict[str, Any]  # config.json as written
    added: dict[str, int]  # every added token the folder declares: string -> id
    special: dict[str, str | None]  # role (bos/eos/pad/mask) -> the string the tokenizer files give it
    filler: int  # the id that pads a gap's unused budget for this family
    biased: tuple[int, ...]  # the ids whose head rows were pushed up
    state: dict[str, torch.Tensor]  # the weights, our names, float32 (what the shards hold)

    def id_of(self, role: str) -> int | None:
        text = self.special.get(role)
        return None if text is None else self.added[text]

    def special_strings(self) -> tuple[str, ...]:
        """Every special token's text: none of them may ever reach the editor."""
        return tuple(sorted(self.added))


# --- vocabulary -----------------------------------------------------------------------------------


def _qwen2_pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )


def _python_source() -> list[str]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    return [
        (stdlib / name).read_text()
        for name in ("textwrap.py", "shlex.py", "fnmatch.py", "string/__init__.py")
        if (stdlib / name).is_file()
    ]


@functools.cache
def trained_bpe() -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """(tokens in id order, merges) of a small byte-level BPE trained on standard-library Python."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = _qwen2_pre_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=TRAINED_VOCAB, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(_python_source(), trainer=trainer)
    model = json.loads(tok.to_str())["model"]
    tokens = tuple(sorted(model["vocab"], key=model["vocab"].__getitem__))
    merges = tuple(tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"])
    return tokens, merges  # type: ignore[return-value]


def padded_vocab(size: int, placed: dict[str, int]) -> dict[str, int]:
    """Ids 0..size-1: the trained tokens first, `placed` strings at their ids, filler entries in
    between. Fillers mix letters and digits, which Qwen2's split never leaves in one piece, so no
    text ever encodes to one; they decode to themselves."""
    tokens, _ = trained_bpe()
    names = [*tokens, *(f"zq{i}" for i in range(len(tokens), size))][:size]
    for text, tid in placed.items():
        if tid < size:
            names[tid] = text
    return dict(zip(names, range(size), strict=True))


@functools.cache
def _vocab_json(size: int) -> str:
    # one line, as json.dumps writes it: indenting 152k entries takes Python's slow encoder 2 s
    return json.dumps(padded_vocab(size, {}), ensure_ascii=False)


# --- tokenizer files ------------------------------------------------------------------------------


def _token_dict(text: str) -> dict[str, Any]:
    return {"content": text, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False}


def _is_special(tid: int) -> bool:
    return tid not in QWEN_NOT_SPECIAL


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def _write_slow(folder: Path, added: dict[str, int]) -> None:
    """vocab.json + merges.txt + added_tokens.json, as Qwen2Tokenizer.save_pretrained writes them."""
    first = min(added.values())
    (folder / "vocab.json").write_text(_vocab_json(first))
    _, merges = trained_bpe()
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    _write_json(folder / "added_tokens.json", dict(sorted(added.items())))


def _write_fast(folder: Path, added: dict[str, int], bos: str | None, prepend_bos: bool) -> None:
    """tokenizer.json. Added ids that run on from the base vocabulary (Qwen2) follow it as added
    tokens; scattered ones (LLaDA) sit inside the vocabulary as well, so each keeps its id."""
    ids = sorted(added.values())
    contiguous = ids == list(range(ids[0], ids[0] + len(ids)))
    size = ids[0] if contiguous else ids[-1] + 1
    _, merges = trained_bpe()
    tok = Tokenizer(models.BPE(vocab=padded_vocab(size, {} if contiguous else added), merges=list(merges)))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = _qwen2_pre_tokenizer()
    tok.decoder = decoders.ByteLevel()
    for text, tid in sorted(added.items(), key=lambda kv: kv[1]):
        token = AddedToken(text, special=_is_special(tid), normalized=False)
        (tok.add_special_tokens if _is_special(tid) else tok.add_tokens)([token])
        assert tok.token_to_id(text) == tid, (text, tid, tok.token_to_id(text))
    if prepend_bos and bos is not None:  # LLaDA's tokenizer(prompt) starts with <|startoftext|>
        tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", special_tokens=[(bos, added[bos])])
    tok.save(str(folder / "tokenizer.json"))


def _write_tokenizer_config(folder: Path, entry: dict[str, Any], added: dict[str, int], klass: str) -> None:
    special = entry["special"]
    extra = [
        t
        for t in (*QWEN_ADDITIONAL, "<|expand|>", "<|delete|>", "<|mdm_mask|>", "<|eot_id|>")
        if t in added and t not in special.values()
    ]
    roles = {f"{role}_token": text for role, text in special.items() if text != "unknown"}
    config = {
        "add_bos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": {
            str(i): {**_token_dict(t), "special": _is_special(i)}
            for t, i in sorted(added.items(), key=lambda kv: kv[1])
        },
        "additional_special_tokens": extra,
        **roles,
        "clean_up_tokenization_spaces": False,
        "errors": "replace",
        "model_max_length": entry["config"].get("max_position_embeddings", 4096),
        "split_special_tokens": False,
        "tokenizer_class": klass,
        "unk_token": None,
    }
    _write_json(folder / "tokenizer_config.json", config)
    tokens_map = {"additional_special_tokens": extra, **{k: _token_dict(v) for k, v in roles.items() if v is not None}}
    _write_json(folder / "special_tokens_map.json", tokens_map)


# --- weights --------------------------------------------------------------------------------------


def shrink(config: dict[str, Any], family: str) -> dict[str, Any]:
    out = copy.deepcopy(config)
    out.update({k: v for k, v in SHRUNK[family].items() if k in out})
    return out


def random_state(cfg: ModelConfig, seed: int) -> dict[str, torch.Tensor]:
    """Every tensor our model has, random enough that each one changes the logits."""
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in DiffusionLM(cfg).state_dict().items()}
    gen = torch.Generator(device="cpu").manual_seed(seed)
    state = {}
    for name, shape in shapes.items():
        noise = torch.randn(shape, generator=gen, device="cpu")
        # sharp attention: positions of one gap see the context differently and predict different ids
        scale = 0.4 if name.endswith(("q_proj.weight", "k_proj.weight")) else 0.05
        state[name] = 1.0 + 0.1 * noise if name.endswith("norm.weight") else scale * noise
    if cfg.tie_word_embeddings:
        state["lm_head.weight"] = state["model.embed_tokens.weight"]
    return state


def bias_head(state: dict[str, torch.Tensor], ids: list[int], strength: float) -> None:
    """Row i of the output layer becomes `strength` along hidden direction k(i): id i then wins
    wherever the final hidden state leans that way far enough, a few positions in each window."""
    head = state["lm_head.weight"]
    for k, tid in enumerate(ids):
        head[tid].zero_()
        head[tid, k % head.shape[1]] = strength


def write_shards(folder: Path, theirs: dict[str, torch.Tensor], shards: int, dtype: torch.dtype) -> None:
    names = list(theirs)
    if shards == 1:
        save_file(
            {k: theirs[k].to(dtype).contiguous() for k in names},
            str(folder / "model.safetensors"),
            metadata={"format": "pt"},
        )
        return
    weight_map, total = {}, 0
    for i in range(shards):
        part = names[i * len(names) // shards : (i + 1) * len(names) // shards]
        file = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        tensors = {k: theirs[k].to(dtype).contiguous() for k in part}
        save_file(tensors, str(folder / file), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(part, file))
        total += sum(t.numel() * t.element_size() for t in tensors.values())
    _write_json(folder / "model.safetensors.index.json", {"metadata": {"total_size": total}, "weight_map": weight_map})


# --- the folder -----------------------------------------------------------------------------------


def _added(entry: dict[str, Any]) -> dict[str, int]:
    return {text: tid for text, tid in entry["added_tokens"].items() if isinstance(tid, int)}


def _filler(family: str, added: dict[str, int], special: dict[str, str | None]) -> int:
    for want in FAMILIES[family].filler:
        text = special.get(want) if want in ("eos", "bos", "pad", "null") else want
        if text in added:
            return added[text]
    raise ValueError(f"{family}: no filler among {FAMILIES[family].filler}")


def _generation_config(entry: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    published = entry.get("generation_config")
    if isinstance(published, dict):
        return published
    # The published file was not seen (published.py says UNKNOWN): the ids config.json gives.
    keys = ("bos_token_id", "eos_token_id", "pad_token_id")
    return {
        "_from_model_config": True,
        **{k: config[k] for k in keys if k in config},
        "transformers_version": config.get("transformers_version"),
    }


def build(
    name: str, root: Path, *, bias: float = 0.0, seed: int = 0, overrides: dict[str, Any] | None = None
) -> HubFolder:
    """Write checkpoint `name` (a key of published.CHECKPOINTS) under root/name."""
    entry = CHECKPOINTS[name]
    family = entry["family"]
    config = {**shrink(entry["config"], family), **(overrides or {})}
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(folder / "config.json", config)
    _write_json(folder / "generation_config.json", _generation_config(entry, config))
    added = _added(entry)
    special = {k: v for k, v in entry["special"].items() if v != "unknown"}
    files = entry["tokenizer_files"]
    if "tokenizer.json" in files:
        _write_fast(folder, added, special.get("bos"), prepend_bos=family == "llada")
    if "vocab.json" in files:
        _write_slow(folder, added)
    # tokenizer_class as transformers writes it for these files (Dream's own value was not seen)
    klass = "PreTrainedTokenizerFast" if family == "llada" else "Qwen2Tokenizer"
    _write_tokenizer_config(folder, entry, added, klass)
    cfg = ModelConfig.from_dict(our_config(config))
    state = random_state(cfg, seed)
    filler = _filler(family, added, special)
    leaky = {*LEAKY, *(t for t in special.values() if t is not None)}
    if cfg.tie_word_embeddings:  # the mask's row is its input embedding too: pushed up, it drowns the context
        leaky.discard(special.get("mask"))
    biased = sorted({filler, *(added[t] for t in leaky if t in added)})
    if bias:
        bias_head(state, biased, bias)
    fam = family_of(config)
    theirs = {
        their_name(fam, k): v for k, v in state.items() if not (k == "lm_head.weight" and cfg.tie_word_embeddings)
    }
    shards = entry["shards"] if isinstance(entry["shards"], int) else 4  # unknown: the Dream line's 4
    dtype = getattr(torch, str(config.get("torch_dtype", "float32")))
    write_shards(folder, theirs, shards, dtype)
    state = {k: v.to(dtype).float() for k, v in state.items()}  # what the shards hold
    return HubFolder(name, folder, config, added, special, filler, tuple(biased) if bias else (), state)
