"""The masked-diffusion engine: from a fill request (text) to candidates (text + per-token confidence).

One bidirectional transformer (model/transformer.py) denoises masked gap positions, sampled by
model/sampler.py. The gap is tried at each requested length budget, one row of a batch per
budget; unused budget positions come back as null tokens and are trimmed. Candidates are ranked
by the mean confidence of the tokens they keep. Windows are cut to the context by model/layout.py.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from model.attention import backend_name
from model.checkpoint import load_checkpoint
from model.engine import EngineInfo, Passes, SharedPass, StopCheck, torch_dtype
from model.families import family_of
from model.layout import Layout, Span, context_room, fit_window, joint_layouts, with_context
from model.sampler import Denoiser, Sample, infill, revise, score_draft
from model.transformer import DiffusionLM, LayerCache
from model.wire.protocol import Candidate, FillRequest, FillResult

log = logging.getLogger("fillgap.worker")


def context_tokens(config: dict) -> int:
    trained = (config.get("fillgap_training") or {}).get("seq_len")
    return int(trained or config.get("max_position_embeddings", 512))


class BatchedModel:
    """The model as one batched fill's sampler sees it: its passes run where `passes` puts them.
    A plain pass joins the shared batch; a pass carrying the fill's key/value cache runs alone."""

    def __init__(self, model: DiffusionLM, passes: Passes) -> None:
        self._model = model
        self._passes = passes
        self.config = model.config

    def token_logits(
        self,
        ids: torch.Tensor,
        key_padding: torch.Tensor | None = None,
        cache: list[LayerCache] | None = None,
        cols: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if cache is not None:
            return self._passes.solo(lambda: self._model.token_logits(ids, key_padding, cache=cache, cols=cols))
        logits = self._passes.logits(ids, key_padding)  # the shared pass scores every column
        return logits if cols is None else logits[:, cols]

    def __call__(
        self,
        ids: torch.Tensor,
        key_padding: torch.Tensor | None = None,
        *,
        cache: list[LayerCache] | None = None,
        positions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self._passes.solo(lambda: self._model(ids, key_padding, cache=cache, positions=positions))

    def new_cache(self) -> list[LayerCache]:
        return self._model.new_cache()


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


class MaskedDiffusionEngine:
    """The `Engine` (model/engine.py) of every family that denoises masked tokens bidirectionally."""

    def __init__(self, folder: Path, device: str = "cpu", threads: int | None = None, dtype: str = "auto") -> None:
        if threads:
            torch.set_num_threads(threads)
        self.folder = Path(folder)
        self.device = device
        dt = torch_dtype(dtype, device)
        self.model, self.tok, self.config = load_checkpoint(self.folder, dt)
        self.family = family_of(self.config)
        self.model.to(device)
        self.limit = context_tokens(self.config)
        self.backend = backend_name(device, dt)

    @property
    def info(self) -> EngineInfo:
        return EngineInfo("masked-diffusion", self.device, self.backend, self.model.num_parameters(), self.limit)

    def shared_pass(self) -> SharedPass:
        pad = self.tok.specials.pad
        return SharedPass(self.model.token_logits, pad if pad is not None else 0)

    def fill(self, req: FillRequest, stop: StopCheck | None = None, passes: Passes | None = None) -> FillResult:
        """Candidates for the request; `stop` (asked before each step) ends it early with `Stopped`."""
        start = time.perf_counter()
        model: Denoiser = self.model if passes is None else BatchedModel(self.model, passes)
        sp = self.tok.specials
        prefix, suffix = self.tok.encode(req.prefix), self.tok.encode(req.suffix)
        _note_truncation(req, len(prefix), len(suffix), self.limit)
        if req.draft is not None:
            return self._revise(model, req, prefix, suffix, start, stop)
        context = self.tok.encode(req.context) if req.context else []
        limit = self.limit - (context_room(context, self.limit) + 1 if context else 0)
        if req.holes:
            holes, between = [self.tok.encode(h) for h in req.holes], [self.tok.encode(b) for b in req.between]
            layouts = [
                lay for b in req.budgets for lay in joint_layouts(prefix, holes, between, suffix, b, limit, sp.eos)
            ]
        else:
            layouts = [fit_window(prefix, suffix, b, limit, sp.eos) for b in req.budgets]
        layouts = [with_context(lay, context, self.limit, sp.eos) for lay in layouts]
        ids, gap, key_padding = self._batch(layouts)
        sample = infill(model, ids, gap, req.sampler, sp, key_padding, stop)
        return self._result(req.id, sample, layouts, start)

    def _revise(
        self,
        model: Denoiser,
        req: FillRequest,
        prefix: list[int],
        suffix: list[int],
        start: float,
        stop: StopCheck | None,
    ) -> FillResult:
        """Re-mask the draft's tokens that overlap req.remask and denoise only those."""
        sp = self.tok.specials
        enc = self.tok.tok.encode(req.draft or "", add_special_tokens=False)
        window = fit_window(prefix, suffix, max(1, len(enc.ids)), self.limit, sp.eos)
        (span,) = window.spans
        draft = (enc.ids or [sp.mask])[: span.length]
        window.ids[span.start : span.start + len(draft)] = draft
        ids, gap, _ = self._batch([window])
        chosen = torch.zeros_like(gap)
        for j, (a, b) in enumerate(enc.offsets[: span.length]):
            if any(a < end and b > begin for begin, end in req.remask) or not enc.ids:
                chosen[0, span.start + j] = True
        confidence = torch.where(gap, 1.0, 0.0).to(self.device)
        if req.remask_below > 0 and not req.remask and enc.ids:
            likely = score_draft(model, ids, gap, sp)
            chosen = gap & (likely < req.remask_below)
            confidence = torch.where(gap, likely, confidence)
        passes = revise(model, ids, chosen, confidence, req.sampler, sp, stop=stop) if chosen.any() else 0
        sample = Sample(ids=ids, confidence=confidence, forward_passes=passes, refined=int(chosen.sum()))
        return self._result(req.id, sample, [window], start)

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
