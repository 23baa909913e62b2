"""The tokenizer the engine encodes and decodes with: ours, or a hub checkpoint's.

Ours is byte-level BPE trained with `tokenizers`. Newlines and leading indentation are split into
their own pieces before BPE, so a gap that starts after a line's indentation or ends at a newline
tokenizes the same way in training and in use: the prefix and suffix never share a BPE piece with
the gap. A hub checkpoint's comes from its folder's files (model/hub_tokenizer.py), its special ids
from its configs and family (model/special_tokens.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from model.families import FAMILIES, Family
from model.hub_tokenizer import build_tokenizer
from model.special_tokens import EOS, MASK, NULL, PAD, Declarations, SpecialIds, special_ids

SPECIAL_TOKENS = [PAD, EOS, MASK, NULL]
__all__ = [
    "EOS",
    "MASK",
    "NULL",
    "PAD",
    "SPECIAL_TOKENS",
    "CodeTokenizer",
    "SpecialIds",
    "load_tokenizer",
    "train_tokenizer",
]


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


class CodeTokenizer:
    """Thin wrapper: encode without special-token handling, decode without cleanup."""

    def __init__(self, tokenizer: Tokenizer, specials: SpecialIds) -> None:
        self.tok = tokenizer
        self.specials = specials

    @classmethod
    def from_file(cls, path: Path, config: dict | None = None, family: Family | None = None) -> CodeTokenizer:
        """A tokenizer.json alone: special ids from `config` and the names we know (our own rules by default)."""
        tok = Tokenizer.from_file(str(path))
        return cls(tok, special_ids(tok, Declarations.of_config(config or {}), family or FAMILIES["fillgap"]))

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


def load_tokenizer(folder: Path, config: dict, family: Family) -> CodeTokenizer:
    """A checkpoint folder's tokenizer (tokenizer.json, or the slow Qwen2 files) and its special ids,
    declared by `config` (config.json with our field names) and the folder's tokenizer files."""
    folder = Path(folder)
    tok = build_tokenizer(folder)
    return CodeTokenizer(tok, special_ids(tok, Declarations.read(folder, config), family))
