"""Token-boundary healing: the model sees the gap's edges tokenized as the whole file would be.

The prefix, the gap and the suffix are tokenized apart, but a tokenizer's pre-tokenizer would
have joined text across the cut: Qwen2's regex gives a prefix ending in four spaces of
indentation the piece 'ĠĠĠĠ', where the whole file has 'ĠĠĠ' + 'Ġreturn'; a prefix ending
mid-word ends on a piece the whole file never has; a suffix starting with a newline loses the
')' + '\\n' piece the line's end would have made.

Prefix side: the part of the prefix's last piece that the text after it would join (found by
pre-tokenizing the prefix's end followed by a letter, what most often follows a cursor, or by a
newline after a newline) is the *lead*. It moves into the gap: the prefix's tokens stop before
it, the gap's first position may only hold tokens whose bytes start with it (`LeadMasks`,
applied by the sampler), and it is stripped back from each candidate. Pieces wholly before the
lead keep their own tokens. One position is constrained, so where the whole file splits the lead
itself over two tokens (a partial word its vocabulary has no one token for) the gap can still
write the text, in tokens the whole file would not use.

Suffix side: a newline run that punctuation before it would take into its piece (the *trail*)
moves into the gap's end; the gap writes it as the whole file would, and a candidate ending with
it has it stripped back. Only whitespace moves this way: a suffix's partial word or bracket is
information the model needs to see, and the gap's last content position is not known in advance,
so it cannot be constrained.

Our own tokenizer isolates newlines and leading indentation, so at line starts and after
indentation (where its gaps were cut in training) the lead and trail are empty: nothing changes.
"""

from __future__ import annotations

import bisect
import re
from collections import OrderedDict
from dataclasses import replace
from functools import lru_cache

import torch
from tokenizers import Tokenizer, decoders

from model.wire.protocol import Candidate

PROBE = "x"  # what most often follows the cursor: the start of a word
PUNCT_PROBE = ")"  # what most often ends a line just before a newline
TAIL = 256  # characters of context around the cut a piece is looked for in
_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def lead_start(tok: Tokenizer, text: str) -> int:
    """Where the lead starts in `text` (len(text): no lead): the start of the part of its last
    pre-tokenizer piece that what follows would join: a word (probed with a letter) or, after a
    newline, the blank line a gap often starts with (Qwen2 keeps a newline run, and the
    punctuation before it, in one piece)."""
    at = max(0, len(text) - TAIL)
    tail = text[at:]
    if not tail or not _plain(tok, tail):
        return len(text)
    newline = tail[-1] in "\r\n"
    for _, (a, b) in tok.pre_tokenizer.pre_tokenize_str(tail + ("\n" if newline else PROBE)):
        if a < len(tail) < b:
            return at + a
    return len(text)


def trail_end(tok: Tokenizer, text: str) -> int:
    """How many leading characters of `text` (the text after a gap) are a whitespace run that
    punctuation ending the gap would take into its piece (0: none)."""
    head = text[:TAIL]
    if not head[:1].isspace() or not _plain(tok, head):
        return 0
    n = len(PUNCT_PROBE)
    for _, (a, b) in tok.pre_tokenizer.pre_tokenize_str(PUNCT_PROBE + head):
        if a < n < b:
            joined = head[: b - n]
            return len(joined) if joined.isspace() else 0
    return 0


def _plain(tok: Tokenizer, text: str) -> bool:
    """Whether pre-tokenizer offsets into `text` are offsets into what the tokenizer splits: it has
    a pre-tokenizer and its normalizer (NFC for Qwen2) leaves the text as it is."""
    if tok.pre_tokenizer is None:
        return False
    return tok.normalizer is None or tok.normalizer.normalize_str(text) == text


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet reversed: the character each byte is written as -> the byte.
    Printable Latin-1 bytes stand for themselves; the rest are shifted past 255 in order."""
    kept = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = list(kept)
    shifted = 0
    for b in range(256):
        if b not in kept:
            kept.append(b)
            chars.append(256 + shifted)
            shifted += 1
    return {chr(c): b for b, c in zip(kept, chars, strict=True)}


def token_bytes(tok: Tokenizer) -> list[bytes | None]:
    """The bytes each token id stands for; None for special tokens (never part of a file's text)."""
    added = tok.get_added_tokens_decoder()
    byte_level = isinstance(tok.decoder, decoders.ByteLevel)
    table = _byte_decoder()
    out: list[bytes | None] = []
    for tid in range(max(tok.get_vocab(with_added_tokens=True).values(), default=-1) + 1):
        piece = tok.id_to_token(tid)
        if piece is None or (tid in added and added[tid].special):
            out.append(None)
        elif tid in added:
            out.append(piece.encode())
        elif byte_level:
            out.append(bytes(table[c] for c in piece) if all(c in table for c in piece) else piece.encode())
        else:  # sentencepiece style: '▁' is a space, '<0x0A>' a raw byte
            m = _BYTE_TOKEN.fullmatch(piece)
            out.append(bytes([int(m.group(1), 16)]) if m else piece.replace("▁", " ").encode())
    return out


class LeadMasks:
    """For a lead: which of the model's `vocab_size` token ids may start the gap (bytes starting
    with the lead's), as a boolean tensor on `device`. The token table is built on first use,
    sorted so that the tokens starting with any bytes are one range of it; the latest masks are kept."""

    def __init__(
        self,
        tok: Tokenizer,
        vocab_size: int,
        device: torch.device | str,
        exclude: frozenset[int] = frozenset(),
        keep: int = 256,
    ) -> None:
        self._tok = tok
        self._exclude = exclude
        self._vocab_size = vocab_size
        self._device = torch.device(device)
        self._keep = keep
        self._sorted: tuple[list[bytes], torch.Tensor] | None = None
        self._masks: OrderedDict[str, torch.Tensor] = OrderedDict()

    def _table(self) -> tuple[list[bytes], torch.Tensor]:
        if self._sorted is None:
            table = token_bytes(self._tok)[: self._vocab_size]
            pairs = sorted((b, tid) for tid, b in enumerate(table) if b and tid not in self._exclude)
            ids = torch.tensor([tid for _, tid in pairs], dtype=torch.long, device=self._device)
            self._sorted = [b for b, _ in pairs], ids
        return self._sorted

    def __call__(self, lead: str) -> torch.Tensor:
        if lead in self._masks:
            self._masks.move_to_end(lead)
            return self._masks[lead]
        keys, ids = self._table()
        want = lead.encode()
        lo = bisect.bisect_left(keys, want)
        hi = bisect.bisect_left(keys, _after_all_starting_with(want)) if want.rstrip(b"\xff") else len(keys)
        mask = torch.zeros(self._vocab_size, dtype=torch.bool, device=self._device)
        mask[ids[lo:hi]] = True
        self._masks[lead] = mask
        if len(self._masks) > self._keep:
            self._masks.popitem(last=False)
        return self._masks[lead]

    def heal(self, text: str) -> tuple[str, str]:
        """(text before the lead, lead). The longest lead some token can start with: a lead no
        token begins (a rare partial word) gives up its first characters to the prefix."""
        at = lead_start(self._tok, text)
        while at < len(text) and not bool(self(text[at:]).any()):
            at += 1
        return text[:at], text[at:]


def _after_all_starting_with(prefix: bytes) -> bytes:
    """The least bytes greater than every bytes that starts with `prefix` (which is not all 0xff)."""
    head = prefix.rstrip(b"\xff")
    return head[:-1] + bytes([head[-1] + 1])


def strip_edges(c: Candidate, lead: str, trail: str) -> Candidate:
    """The candidate without the lead it was made to start with and the trail it chose to end
    with: the text between the user's own prefix and suffix, which still hold both."""
    text, tokens, confs = c.text, list(c.tokens), list(c.confidences)
    if lead and text.startswith(lead):
        text = text[len(lead) :]
        if tokens and tokens[0].startswith(lead):
            tokens[0] = tokens[0][len(lead) :]
            if not tokens[0]:
                del tokens[0], confs[0]
    if trail and text.endswith(trail):
        text = text[: len(text) - len(trail)]
        if tokens and tokens[-1].endswith(trail):
            tokens[-1] = tokens[-1][: len(tokens[-1]) - len(trail)]
            if not tokens[-1]:
                del tokens[-1], confs[-1]
    return replace(c, text=text, tokens=tokens, confidences=confs)
