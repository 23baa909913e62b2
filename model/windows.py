"""A fill request's windows: its texts encoded with the gap's edges healed, laid out per budget.

Each hole (a plain fill has one) takes the lead from the text before it and the trail from the
text after it (model/boundary.py); what is left of the texts is encoded, laid out by
model/layout.py with the family's file markers, and the gap's first position is held to tokens
that start with its lead. A hole that is context for another window's holes keeps its lead and
trail as text of its own, so every window holds the document's text whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from model.boundary import LeadMasks, trail_end
from model.layout import Layout, context_lead, fit_window, joint_layouts, with_context
from model.sampler import Allowed
from model.tokenizer import CodeTokenizer
from model.wire.protocol import FillRequest


@dataclass(frozen=True)
class Edges:
    """Text moved into a hole from either side of it, stripped back from its candidates."""

    lead: str = ""
    trail: str = ""


@dataclass
class Windows:
    layouts: list[Layout]
    edges: list[Edges]  # one per hole
    allowed: Allowed = field(default_factory=list)
    around: tuple[int, int] = (0, 0)  # tokens of the text before the first hole and after the last


@dataclass
class Revision:
    """The one window of a draft's revision, the draft placed in its gap (lead and trail included)."""

    window: Layout
    offsets: list[tuple[int, int]]  # of each placed token in the draft's text (the lead's are negative)
    edges: Edges
    allowed: Allowed
    remask_all: bool  # no draft: every position is written
    around: tuple[int, int] = (0, 0)  # tokens of the text before the draft and after it


class WindowMaker:
    def __init__(self, tok: CodeTokenizer, vocab_size: int, device: torch.device | str) -> None:
        self.tok = tok
        sp = tok.specials  # never a lead's token: control tokens a tokenizer file leaves unflagged
        self.masks = LeadMasks(tok.tok, vocab_size, device, exclude=frozenset(sp.drop) | frozenset(sp.never))

    def _split(self, texts: list[str]) -> tuple[list[str], list[Edges]]:
        """texts[k] is before hole k and texts[k + 1] after it: what stays of each text, and each
        hole's edges."""
        kept, leads, trails = [], [], [""]
        for k, text in enumerate(texts):
            n = trail_end(self.tok.tok, text) if k > 0 else 0
            if k > 0:
                trails.append(text[:n])
            before, lead = self.masks.heal(text[n:]) if k < len(texts) - 1 else (text[n:], "")
            kept.append(before)
            leads.append(lead)
        return kept, [Edges(leads[k], trails[k + 1]) for k in range(len(texts) - 1)]

    def _allowed(self, layouts: list[Layout], edges: list[Edges]) -> Allowed:
        return [
            (row, span.start, self.masks(edges[span.hole].lead))
            for row, lay in enumerate(layouts)
            for span in lay.spans
            if edges[span.hole].lead
        ]

    def fill(self, req: FillRequest, limit: int) -> Windows:
        """One window per budget (per group of holes and budget, for a joint fill) within `limit` tokens."""
        sp = self.tok.specials
        kept, edges = self._split([req.prefix, *req.between, req.suffix])
        prefix, suffix = self.tok.encode(kept[0]), self.tok.encode(kept[-1])
        lead = context_lead(self.tok.encode(req.context) if req.context else [], limit, sp.eos, sp.start)
        room = limit - len(lead)
        if req.holes:
            holes = [self.tok.encode(e.lead + h + e.trail) for h, e in zip(req.holes, edges, strict=True)]
            between = [self.tok.encode(b) for b in kept[1:-1]]
            layouts = [
                lay
                for b in req.budgets
                for lay in joint_layouts(prefix, holes, between, suffix, b, room, sp.eos, sp.start)
            ]
        else:
            layouts = [fit_window(prefix, suffix, b, room, sp.eos, sp.start) for b in req.budgets]
        layouts = [with_context(lay, lead) for lay in layouts]
        return Windows(layouts, edges, self._allowed(layouts, edges), (len(prefix), len(suffix)))

    def revision(self, req: FillRequest, limit: int) -> Revision:
        """The draft between the request's prefix and suffix, encoded with its edges as the whole file would be."""
        sp = self.tok.specials
        (before, after), (edges,) = self._split([req.prefix, req.suffix])
        enc = self.tok.tok.encode(edges.lead + (req.draft or "") + edges.trail, add_special_tokens=False)
        prefix, suffix = self.tok.encode(before), self.tok.encode(after)
        window = fit_window(prefix, suffix, max(1, len(enc.ids)), limit, sp.eos, sp.start)
        (span,) = window.spans
        draft = (enc.ids or [sp.mask])[: span.length]
        window.ids[span.start : span.start + len(draft)] = draft
        shift = len(edges.lead)
        offsets = [(a - shift, b - shift) for a, b in enc.offsets[: span.length]]
        allowed = self._allowed([window], [edges])
        return Revision(window, offsets, edges, allowed, remask_all=not req.draft, around=(len(prefix), len(suffix)))
