"""From a fill request (text) to candidates (text + per-token confidence): tokens in, tokens out.

The gap is tried at each requested length budget, one row of a batch per budget; unused budget
positions come back as null tokens and are trimmed. Candidates are ranked by the mean
confidence of the tokens they keep.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from model.attention import backend_name
from model.checkpoint import load_checkpoint
from model.layout import Layout, Span, context_room, joint_layouts, with_context
from model.wire.protocol import Candidate, FillRequest, FillResult
from model.sampler import Sample, StopCheck, infill, revise, score_draft

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
log = logging.getLogger("fillgap.worker")
SUFFIX_SHARE = 0.25  # of the context left after the gap, when the prefix alone would overflow it


@dataclass
class Window:
    ids: list[int]
    gap_start: int
    gap_len: int


def context_tokens(config: dict) -> int:
    trained = (config.get("fillgap_training") or {}).get("seq_len")
    return int(trained or config.get("max_position_embeddings", 512))


def fit_window(prefix: list[int], suffix: list[int], budget: int, limit: int, eos: int | None) -> Window:
    """Keep the end of the prefix and the start of the suffix around the gap, within limit tokens.

    A prefix that starts the file (or suffix that ends it) keeps its end-of-text marker, as the
    model saw files during training.
    """
    if eos is not None:
        prefix, suffix = [eos, *prefix], [*suffix, eos]
    budget = min(budget, limit - 2)
    room = limit - budget
    n_suf = min(len(suffix), max(int(room * SUFFIX_SHARE), room - len(prefix)))
    n_pre = min(len(prefix), room - n_suf)
    pre = prefix[len(prefix) - n_pre :]
    return Window(ids=pre + [0] * budget + suffix[:n_suf], gap_start=n_pre, gap_len=budget)


def _note_truncation(req: FillRequest, n_prefix: int, n_suffix: int, limit: int) -> None:
    """A request longer than the context window is cut to fit (fit_window), never refused: say so.
    Token counts only; the text of a document never goes to the log."""
    need = n_prefix + n_suffix + 2 + max(req.budgets)
    if need > limit:
        log.info(
            "fill %s: %d prefix + %d suffix tokens exceed the %d-token context; prefix cut from the start, "
            "suffix from the end",
            req.id,
            n_prefix,
            n_suffix,
            limit,
        )


class FillEngine:
    def __init__(self, folder: Path, device: str = "cpu", threads: int | None = None, dtype: str = "auto") -> None:
        if threads:
            torch.set_num_threads(threads)
        self.folder = Path(folder)
        self.device = device
        torch_dtype = (
            DTYPES[dtype] if dtype != "auto" else torch.bfloat16 if device.startswith("cuda") else torch.float32
        )
        self.model, self.tok, self.config = load_checkpoint(self.folder, torch_dtype)
        self.model.to(device)
        self.limit = context_tokens(self.config)
        self.backend = backend_name(device, torch_dtype)

    def fill(self, req: FillRequest, stop: StopCheck | None = None) -> FillResult:
        """Candidates for the request; `stop` (asked before each step) ends it early with `Stopped`."""
        start = time.perf_counter()
        sp = self.tok.specials
        prefix, suffix = self.tok.encode(req.prefix), self.tok.encode(req.suffix)
        _note_truncation(req, len(prefix), len(suffix), self.limit)
        if req.draft is not None:
            return self._revise(req, prefix, suffix, start, stop)
        context = self.tok.encode(req.context) if req.context else []
        limit = self.limit - (context_room(context, self.limit) + 1 if context else 0)
        if req.holes:
            holes, between = [self.tok.encode(h) for h in req.holes], [self.tok.encode(b) for b in req.between]
            layouts = [
                lay for b in req.budgets for lay in joint_layouts(prefix, holes, between, suffix, b, limit, sp.eos)
            ]
        else:
            layouts = [_layout(fit_window(prefix, suffix, b, limit, sp.eos)) for b in req.budgets]
        layouts = [with_context(lay, context, self.limit, sp.eos) for lay in layouts]
        ids, gap, key_padding = self._batch(layouts)
        sample = infill(self.model, ids, gap, req.sampler, sp, key_padding, stop)
        return self._result(req.id, sample, layouts, start)

    def _revise(
        self, req: FillRequest, prefix: list[int], suffix: list[int], start: float, stop: StopCheck | None
    ) -> FillResult:
        """Re-mask the draft's tokens that overlap req.remask and denoise only those."""
        sp = self.tok.specials
        enc = self.tok.tok.encode(req.draft or "", add_special_tokens=False)
        w = fit_window(prefix, suffix, max(1, len(enc.ids)), self.limit, sp.eos)
        draft = (enc.ids or [sp.mask])[: w.gap_len]
        w.ids[w.gap_start : w.gap_start + len(draft)] = draft
        ids, gap, _ = self._batch([_layout(w)])
        chosen = torch.zeros_like(gap)
        for j, (a, b) in enumerate(enc.offsets[: w.gap_len]):
            if any(a < end and b > begin for begin, end in req.remask) or not enc.ids:
                chosen[0, w.gap_start + j] = True
        confidence = torch.where(gap, 1.0, 0.0).to(self.device)
        if req.remask_below > 0 and not req.remask and enc.ids:
            likely = score_draft(self.model, ids, gap, sp)
            chosen = gap & (likely < req.remask_below)
            confidence = torch.where(gap, likely, confidence)
        passes = revise(self.model, ids, chosen, confidence, req.sampler, sp, stop=stop) if chosen.any() else 0
        sample = Sample(ids=ids, confidence=confidence, forward_passes=passes, refined=int(chosen.sum()))
        return self._result(req.id, sample, [_layout(w)], start)

    def _batch(self, layouts: list[Layout]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        sp = self.tok.specials
        width = max(len(lay.ids) for lay in layouts)
        ids = torch.full((len(layouts), width), sp.pad if sp.pad is not None else 0, dtype=torch.long)
        real = torch.zeros(ids.shape, dtype=torch.bool)
        gap = torch.zeros(ids.shape, dtype=torch.bool)
        for row, lay in enumerate(layouts):
            ids[row, : len(lay.ids)] = torch.tensor(lay.ids)
            real[row, : len(lay.ids)] = True
            for span in lay.spans:
                gap[row, span.start : span.start + span.length] = True
        key_padding = None if bool(real.all()) else real.to(self.device)
        return ids.to(self.device), gap.to(self.device), key_padding

    def _result(self, req_id: int, sample: Sample, layouts: list[Layout], start: float) -> FillResult:
        """One candidate per span of every row, best first (per hole, for a joint fill)."""
        candidates = [
            self._candidate(sample.ids[r].cpu(), sample.confidence[r].cpu(), span)
            for r, lay in enumerate(layouts)
            for span in lay.spans
        ]
        candidates.sort(key=lambda c: (c.hole, -c.mean_confidence))
        return FillResult(
            id=req_id,
            candidates=candidates,
            elapsed_ms=(time.perf_counter() - start) * 1000,
            forward_passes=sample.forward_passes,
        )

    def _candidate(self, ids: torch.Tensor, conf: torch.Tensor, span: Span) -> Candidate:
        drop = {self.tok.specials.null, self.tok.specials.eos, self.tok.specials.pad, self.tok.specials.mask}
        toks = ids[span.start : span.start + span.length].tolist()
        span_conf = conf[span.start : span.start + span.length].tolist()
        kept = [(t, c) for t, c in zip(toks, span_conf, strict=True) if t not in drop]
        tokens = [t for t, _ in kept]
        confs = [round(c, 4) for _, c in kept]
        mean = sum(span_conf) / max(len(span_conf), 1)
        return Candidate(
            text=self.tok.decode(tokens),
            budget=span.length,
            mean_confidence=round(mean, 4),
            tokens=self.tok.token_texts(tokens),
            confidences=confs,
            hole=span.hole,
        )


def _layout(w: Window) -> Layout:
    return Layout(w.ids, [Span(w.gap_start, w.gap_len, 0)])
