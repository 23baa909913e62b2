"""What the block-diffusion engine puts before and on the canvas, for each kind of fill.

The instruction prompt, the answer's cleaning and the inpainting layout are model/gemma_prompt.py's
(and model/gemma_inpaint.py's); this module gathers them behind one object with the loaded
folder's tokenizer and special ids, and lays out a revision: the draft's tokens on the canvas,
those that overlap the ranges to re-noise marked, every other position held (after the draft: the
end of the turn in instruction mode, the suffix's first tokens in inpainting, then pad).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.wire.protocol import FillRequest


@dataclass(frozen=True)
class Chunk:
    """One canvas of a revision: `tokens` (C), `renoise` (C) where to denoise again, `length` the
    draft tokens on it (the rest is held filler)."""

    tokens: list[int]
    renoise: list[bool]
    length: int


@dataclass(frozen=True)
class Draft:
    """A revision's prompt (the encoder's), the draft's tokens, which of them to re-noise, and the
    tokens held after the draft on its last canvas."""

    prompt: list[int]
    tokens: list[int]
    marked: list[bool]
    after: list[int]
    pad: int

    def canvas(self, start: int, width: int) -> Chunk:
        """The canvas holding draft tokens start..start+width, filled out with held tokens."""
        toks = self.tokens[start : start + width]
        marks = self.marked[start : start + width]
        n = len(toks)
        tail = (self.after + [self.pad] * width)[: width - n]
        return Chunk(toks + tail, marks + [False] * len(tail), n)


def overlaps(offsets: list[tuple[int, int]], ranges: list[list[int]]) -> list[bool]:
    """Which tokens (by their character offsets in the draft) overlap any of the [begin, end) ranges."""
    return [any(a < end and b > begin for begin, end in ranges) for a, b in offsets]


class Prompts:
    """The loaded folder's prompts: its tokenizer, its end and pad ids, PROMPT's builders."""

    def __init__(self, loaded: Any, folder: Path) -> None:
        from model.gemma_prompt import load_template

        self.loaded = loaded
        self.tok = loaded.tokenizer
        self.template = load_template(folder, set(self.tok.tok.get_vocab()))
        sp = loaded.specials
        self.pad_id = int(sp.pad if sp.pad is not None else 0)
        gen_eos = loaded.generation.get("eos_token_id")
        gen_eos = gen_eos if isinstance(gen_eos, list) else [gen_eos] if gen_eos is not None else []
        turn = [loaded.end_of_turn] if loaded.end_of_turn is not None else []
        self.ends = tuple(dict.fromkeys(int(i) for i in [*sp.ends, *gen_eos, *turn]))
        self.drop = frozenset(sp.drop) | set(self.ends) | {self.pad_id}

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids)

    def token_text(self, token: int) -> str:
        return self.tok.decode([token])

    def fit(self, req: FillRequest, limit: int) -> tuple[str, str]:
        """The prefix and suffix cut to `limit` tokens together (the prefix from its start, the
        suffix from its end; the suffix keeps at most a quarter when both are long)."""
        prefix, suffix = self.tok.encode(req.prefix), self.tok.encode(req.suffix)
        if len(prefix) + len(suffix) <= limit:
            return req.prefix, req.suffix
        keep_suffix = min(len(suffix), max(limit // 4, limit - len(prefix)))
        keep_prefix = max(0, limit - keep_suffix)
        return self.decode(prefix[len(prefix) - keep_prefix :]), self.decode(suffix[:keep_suffix])

    def instruction(self, prefix: str, suffix: str, context: str = "") -> list[int]:
        """The chat prompt asking for the middle (model/gemma_prompt.py), as ids: its text already
        starts with the template's <bos>."""
        from model.gemma_prompt import instruction_prompt

        return self.tok.encode(instruction_prompt(self.template, prefix, suffix, context))

    def around(self, req: FillRequest, limit: int, after: int) -> tuple[list[int], list[int], bool]:
        """The prefix as an encoder prompt (<bos> first, cut from the start to `limit` tokens), the
        suffix's first `after` tokens, and whether that is the whole suffix (the file ends there)."""
        bos = self.loaded.specials.bos
        head = [bos] if bos is not None else []
        prefix = self.tok.encode(req.prefix)[-max(1, limit - len(head)) :] if req.prefix else []
        suffix = self.tok.encode(req.suffix)
        return head + prefix, suffix[:after], len(suffix) <= after

    def draft(self, req: FillRequest, limit: int, canvas: int) -> Draft:
        """The revision of req.draft: the prefix is the prompt, the draft goes on the canvas with
        the suffix held after it; tokens overlapping req.remask are re-noised (every token of an
        empty range list only under remask_all, which the engine decides)."""
        prompt, after, _ = self.around(req, limit, canvas)
        enc = self.tok.tok.encode(req.draft or "", add_special_tokens=False)
        ids, offsets = list(enc.ids), [(int(a), int(b)) for a, b in enc.offsets]
        marked = overlaps(offsets, req.remask) if req.remask else [False] * len(ids)
        return Draft(prompt, ids, marked, after, self.pad_id)
