"""Byte-level BPE tokenizer for code, trained with `tokenizers`.

Newlines and leading indentation are split into their own pieces before BPE, so a gap that
starts after a line's indentation or ends at a newline tokenizes the same way in training and
in use: the prefix and suffix never share a BPE piece with the gap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

MASK = "<|mask|>"
NULL = "<|null|>"  # fills the unused tail of a gap's length budget; trimmed from outputs
EOS = "<|endoftext|>"
PAD = "<|pad|>"
SPECIAL_TOKENS = [PAD, EOS, MASK, NULL]


def _pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(r"\n"), behavior="isolated"),
            pre_tokenizers.Split(Regex(r"^[ \t]+"), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = _pre_tokenizer()
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


@dataclass(frozen=True)
class SpecialIds:
    """Ids of the tokens the sampler treats specially, read from the tokenizer or config."""

    mask: int
    null: int | None
    eos: int | None
    pad: int | None


class CodeTokenizer:
    """Thin wrapper: encode without special-token handling, decode without cleanup."""

    def __init__(self, tokenizer: Tokenizer, specials: SpecialIds) -> None:
        self.tok = tokenizer
        self.specials = specials

    @classmethod
    def from_file(cls, path: Path, config: dict | None = None) -> CodeTokenizer:
        tok = Tokenizer.from_file(str(path))
        return cls(tok, _special_ids(tok, config or {}))

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False).ids if text else []

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tok.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids, skip_special_tokens=False) if ids else ""

    def token_texts(self, ids: list[int]) -> list[str]:
        """Text of each token on its own (byte pieces of one character decode to '\ufffd')."""
        return [self.decode([i]) for i in ids]


def _special_ids(tok: Tokenizer, config: dict) -> SpecialIds:
    def pick(key: str, names: tuple[str, ...]) -> int | None:
        if config.get(key) is not None:
            return int(config[key])
        for name in names:
            tid = tok.token_to_id(name)
            if tid is not None:
                return tid
        return None

    mask = pick("mask_token_id", (MASK, "<|mdm_mask|>", "<|MASK|>", "<mask>"))
    if mask is None:
        raise ValueError("tokenizer has no mask token and config.json names no mask_token_id")
    return SpecialIds(
        mask=mask,
        null=pick("null_token_id", (NULL,)),
        eos=pick("eos_token_id", (EOS, "</s>")),
        pad=pick("pad_token_id", (PAD, "<pad>")),
    )
