"""The `tokenizers` tokenizer of a checkpoint folder, from whichever tokenizer files it ships.

A folder with `tokenizer.json` is read as is. Dream, Dream-Coder and DiffuCoder ship only the
files of a slow Qwen2 tokenizer (vocab.json, merges.txt, added_tokens.json, tokenizer_config.json);
from those we build the fast tokenizer `transformers` would convert them to: byte-level BPE behind
NFC and Qwen2's split regex, the byte-level decoder, and the added tokens at their declared ids.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

# Qwen2's pre-tokenizer split (transformers' Qwen2Tokenizer and its slow-to-fast converter): words
# with at most one leading non-letter, single digits, punctuation runs, newline runs, and spaces
# that stop before the next word so the word keeps one.
QWEN2_SPLIT = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
SLOW_FILES = ("vocab.json", "merges.txt")
# Role keys whose tokens transformers treats as special (besides the added tokens flagged special).
ROLE_KEYS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
LIST_KEYS = ("additional_special_tokens", "extra_special_tokens")


class TokenizerFilesError(ValueError):
    pass


def read_json(folder: Path, name: str) -> dict[str, Any]:
    """The file's object, {} when the folder lacks it; unreadable JSON is an error naming the file."""
    path = folder / name
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TokenizerFilesError(f"{path}: not readable JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise TokenizerFilesError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def token_text(value: Any) -> str | None:
    """A token as tokenizer_config.json / special_tokens_map.json write it: a string or an AddedToken dict."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) and value else None


def named_special_texts(*declarations: dict[str, Any]) -> list[str]:
    """Every token a tokenizer_config.json or special_tokens_map.json names as special."""
    out: list[str] = []
    for decl in declarations:
        values: list[Any] = [decl.get(k) for k in ROLE_KEYS]
        for key in LIST_KEYS:
            listed = decl.get(key)
            values += list(listed.values()) if isinstance(listed, dict) else list(listed or [])
        out += [t for t in map(token_text, values) if t is not None and t not in out]
    return out


def build_tokenizer(folder: Path) -> Tokenizer:
    """The folder's tokenizer.json, else the fast tokenizer built from its slow Qwen2 files."""
    folder = Path(folder)
    fast = folder / "tokenizer.json"
    if fast.is_file():
        try:
            return Tokenizer.from_file(str(fast))
        except Exception as exc:  # tokenizers raises a bare Exception for malformed files
            raise TokenizerFilesError(f"{fast}: not a readable tokenizer.json ({exc})") from exc
    missing = [name for name in SLOW_FILES if not (folder / name).is_file()]
    if missing:
        raise TokenizerFilesError(
            f"{folder}: no tokenizer found: looked for tokenizer.json, or vocab.json with merges.txt "
            f"(missing {', '.join(missing)})"
        )
    return _from_slow_files(folder)


def _from_slow_files(folder: Path) -> Tokenizer:
    config = read_json(folder, "tokenizer_config.json")
    kind = str(config.get("tokenizer_class") or "Qwen2Tokenizer")
    if "qwen2" not in kind.lower() and "dream" not in kind.lower():
        raise TokenizerFilesError(
            f"{folder / 'tokenizer_config.json'}: tokenizer_class {kind!r}: only Qwen2-style vocab.json + "
            "merges.txt folders are converted; other tokenizers need a tokenizer.json"
        )
    try:
        vocab, merges = models.BPE.read_file(str(folder / "vocab.json"), str(folder / "merges.txt"))
    except Exception as exc:  # tokenizers raises a bare Exception for malformed files
        raise TokenizerFilesError(f"{folder}: vocab.json / merges.txt are not readable ({exc})") from exc
    added = added_tokens(folder, config)
    for tid, token in added.items():
        taken = vocab.get(token.content)
        if taken is not None and taken != tid:
            raise TokenizerFilesError(f"{folder}: added token {token.content!r} has id {tid}, vocab.json says {taken}")
        vocab[token.content] = tid  # in the model's vocabulary, so adding it below keeps this id
    tok = Tokenizer(models.BPE(vocab, merges, dropout=None, unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=bool(config.get("add_prefix_space")), use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    ordered = [added[tid] for tid in sorted(added)]
    tok.add_tokens([t for t in ordered if not t.special])
    tok.add_special_tokens([t for t in ordered if t.special])
    return tok


def added_tokens(folder: Path, config: dict[str, Any]) -> dict[int, AddedToken]:
    """Id -> token for added_tokens.json and tokenizer_config.json's added_tokens_decoder. The
    decoder's own flags win; a token only in added_tokens.json is special when a role or special
    list of tokenizer_config.json / special_tokens_map.json names it (transformers' legacy rule)."""
    special = set(named_special_texts(config, read_json(folder, "special_tokens_map.json")))
    out: dict[int, AddedToken] = {}
    for text, tid in read_json(folder, "added_tokens.json").items():
        flag = text in special
        out[_token_id(folder, "added_tokens.json", tid)] = AddedToken(text, special=flag, normalized=not flag)
    decoder = config.get("added_tokens_decoder") or {}
    for key, entry in decoder.items():
        tid = _token_id(folder, "tokenizer_config.json", key)
        content = token_text(entry)
        if content is None:
            raise TokenizerFilesError(f"{folder / 'tokenizer_config.json'}: added token {key} has no content")
        flags = entry if isinstance(entry, dict) else {}
        out[tid] = AddedToken(
            content,
            single_word=bool(flags.get("single_word", False)),
            lstrip=bool(flags.get("lstrip", False)),
            rstrip=bool(flags.get("rstrip", False)),
            normalized=bool(flags.get("normalized", not flags.get("special", False))),
            special=bool(flags.get("special", False)),
        )
    return out


def _token_id(folder: Path, name: str, value: Any) -> int:
    try:
        tid = int(value)
    except (TypeError, ValueError):
        tid = -1
    if tid < 0:
        raise TokenizerFilesError(f"{folder / name}: {value!r} is not a token id")
    return tid
