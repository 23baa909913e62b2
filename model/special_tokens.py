"""The special ids of a checkpoint's vocabulary and what the engine does with each.

Each role is declared in up to five places: an id in config.json, an id in generation_config.json,
the token tokenizer_config.json names, the token special_tokens_map.json names, a token known by
name (the last resort). Which comes first depends on the role:
- mask and null are the model's own: config.json's id first (Dream, LLaDA and ours give one),
  then the tokenizer files (Open-dCoder's `<M>` is declared only there).
- bos, eos and pad are the tokenizer's: its files first, since the ids config.json carries are
  often the autoregressive base model's leftovers (DiffuCoder's bos_token_id is EOS; Open-dCoder's
  eos_token_id is Qwen2.5-Instruct's `<|im_end|>`, where its training padded with `<|endoftext|>`).
  A tokenizer file that names bos or pad as null says the tokenizer has none, and a bos_token_id
  that is an end id (Qwen2.5's configs: 151643, `<|endoftext|>`) is no start-of-text token.
`eos_token_id` may be a list (Qwen and Llama-3 configs): the first eos found is the end of text,
and every end id any source declares is dropped from candidates. The family (model/families.py)
says which token pads a gap, which starts a file and which are never chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from model.families import Family
from model.hub_tokenizer import named_special_texts, read_json, token_text

MASK = "<|mask|>"
NULL = "<|null|>"  # fills the unused tail of a gap's length budget; trimmed from outputs
EOS = "<|endoftext|>"
PAD = "<|pad|>"

ROLES = ("mask", "eos", "bos", "pad", "null")  # eos before bos (see special_ids)
KNOWN_NAMES: dict[str, tuple[str, ...]] = {
    "mask": (MASK, "<|mdm_mask|>", "<|MASK|>", "<mask>"),
    "eos": (EOS, "</s>"),
    "bos": ("<|beginoftext|>", "<|startoftext|>", "<|begin_of_text|>", "<s>"),
    "pad": (PAD, "<pad>"),
    "null": (NULL,),
}
# Chat, infilling and repository markers of the Qwen2.5(-Coder), Llama-3 and LLaDA vocabularies:
# control tokens, never code, even where a tokenizer file leaves them unflagged.
CONTROL_NAMES = (
    "<|im_start|>",
    "<|im_end|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|dlm_pad|>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
)


class SpecialTokenError(ValueError):
    pass


@dataclass(frozen=True)
class SpecialIds:
    """Ids of the tokens the sampler and the engine treat specially.

    A bare SpecialIds(mask, null, eos, pad) keeps our own checkpoints' rules: null pads a gap, the
    mask is never chosen, and none of the four is decoded. `never` always holds the mask first;
    `drop` always holds every id named here; `ends` always starts with `eos`."""

    mask: int
    null: int | None
    eos: int | None  # the end of text (the first of a list eos_token_id)
    pad: int | None
    bos: int | None = None
    filler: int | None = None  # pads the unused tail of a gap; None: the null token
    start: int | None = None  # marks the start of a file in a window; None: nothing does
    never: tuple[int, ...] = ()  # never chosen by the sampler
    drop: frozenset[int] = frozenset()  # never decoded into a candidate
    ends: tuple[int, ...] = ()  # every end-of-text id

    def __post_init__(self) -> None:
        if self.filler is None:
            object.__setattr__(self, "filler", self.null)
        object.__setattr__(self, "never", _unique((self.mask, *self.never)))
        object.__setattr__(self, "ends", _unique((self.eos, *self.ends)))
        named = (self.mask, self.null, self.eos, self.pad, self.bos, self.filler, *self.ends)
        object.__setattr__(self, "drop", frozenset(self.drop) | {i for i in named if i is not None})


def _unique(ids: tuple[int | None, ...]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(i for i in ids if i is not None))


@dataclass(frozen=True)
class Declarations:
    """What a checkpoint folder's files say about its special tokens (an absent file says nothing)."""

    config: dict[str, Any]
    generation: dict[str, Any]
    tokenizer_config: dict[str, Any]
    special_map: dict[str, Any]

    @classmethod
    def read(cls, folder: Path, config: dict[str, Any]) -> Declarations:
        return cls(
            config,
            read_json(folder, "generation_config.json"),
            read_json(folder, "tokenizer_config.json"),
            read_json(folder, "special_tokens_map.json"),
        )

    @classmethod
    def of_config(cls, config: dict[str, Any]) -> Declarations:
        return cls(config, {}, {}, {})


def special_ids(tok: Tokenizer, decl: Declarations, family: Family) -> SpecialIds:
    limit = max(tok.get_vocab_size(with_added_tokens=True), int(decl.config.get("vocab_size") or 0))
    found: dict[str, list[int]] = {}
    for role in ROLES:  # eos before bos: a bos config.json gives that is an end id is no bos
        found[role] = _candidates(role, tok, decl, limit, found.get("eos", []))
    if not found["mask"]:
        raise SpecialTokenError(
            "no mask token: config.json and generation_config.json give no mask_token_id, "
            "tokenizer_config.json and special_tokens_map.json no mask_token in the vocabulary, "
            f"and the vocabulary has none of {', '.join(KNOWN_NAMES['mask'])}"
        )
    mask = found["mask"][0]
    roles = {role: (ids[0] if ids else None) for role, ids in found.items()}
    filler = _first_present(family.filler, roles, tok)
    never = tuple(i for i in (_by_rule(name, roles, tok) for name in family.never) if i is not None)
    start = {"bos": roles["bos"], "eos": roles["eos"], "none": None}[family.start]
    drop = _special_in_vocab(tok, decl) | set(never)
    return SpecialIds(
        mask=mask,
        null=roles["null"],
        eos=roles["eos"],
        pad=roles["pad"],
        bos=roles["bos"],
        filler=filler,
        start=start,
        never=never + _unnamed_ids(tok, decl.config),
        drop=frozenset(drop),
        ends=tuple(found["eos"]),
    )


def _candidates(role: str, tok: Tokenizer, decl: Declarations, limit: int, ends: list[int]) -> list[int]:
    """The role's ids in precedence order (see the module docstring), duplicates removed."""
    key = f"{role}_token_id"
    configured: list[int] = []
    for source, data in (("config.json", decl.config), ("generation_config.json", decl.generation)):
        configured += [_checked_id(source, key, v, limit) for v in _as_list(data.get(key))]
    if role == "bos":
        configured = [i for i in configured if i not in ends]
    named, declared = [], False
    for data in (decl.tokenizer_config, decl.special_map):
        declared = declared or f"{role}_token" in data
        text = token_text(data.get(f"{role}_token"))
        tid = tok.token_to_id(text) if text is not None else None
        if tid is not None:
            named.append(tid)
    if role in ("mask", "null"):
        out = configured + named
    elif role == "eos":
        out = named + configured
    else:
        out = named if declared else configured
    if not out and not (declared and role in ("bos", "pad")):
        out = [tid for tid in map(tok.token_to_id, KNOWN_NAMES[role]) if tid is not None][:1]
    return list(dict.fromkeys(out))


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _checked_id(source: str, key: str, value: Any, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
        raise SpecialTokenError(f"{source}: {key} {value!r} is not an id in the vocabulary (size {limit})")
    return value


def _by_rule(name: str, roles: dict[str, int | None], tok: Tokenizer) -> int | None:
    """A family's token: a role ("eos", "bos", "pad", "null") or a token's text."""
    return roles[name] if name in roles else tok.token_to_id(name)


def _first_present(names: tuple[str, ...], roles: dict[str, int | None], tok: Tokenizer) -> int | None:
    for name in names:
        tid = _by_rule(name, roles, tok)
        if tid is not None:
            return tid
    return None


def _special_in_vocab(tok: Tokenizer, decl: Declarations) -> set[int]:
    """Every added token (matched whole before BPE, so a marker, never a piece of code: Qwen2.5
    leaves its tool-call and FIM markers unflagged), the tokens the tokenizer files name special,
    and known control tokens (in case a vocabulary holds them as ordinary entries)."""
    # ...except an unflagged added token that is only whitespace: Gemma's vocabulary adds "\n" (107)
    # and runs of newlines, tabs and spaces that way, and they are text.
    out = {i for i, t in tok.get_added_tokens_decoder().items() if t.special or t.content.replace("▁", " ").strip()}
    texts = [*named_special_texts(decl.tokenizer_config, decl.special_map), *CONTROL_NAMES]
    out |= {tid for tid in map(tok.token_to_id, texts) if tid is not None}
    return out


def _unnamed_ids(tok: Tokenizer, config: dict[str, Any]) -> tuple[int, ...]:
    """Rows of the output layer no token has (hub vocabularies are padded to a multiple of 64 or 128):
    choosing one would decode to nothing."""
    rows = int(config.get("vocab_size") or 0)
    count = tok.get_vocab_size(with_added_tokens=True)
    tail = tuple(i for i in range(count, rows) if tok.id_to_token(i) is None)
    if len(tail) == max(rows - count, 0):  # no id at or past `count`, so none missing below it
        return tail
    return tuple(i for i in range(rows) if tok.id_to_token(i) is None)
