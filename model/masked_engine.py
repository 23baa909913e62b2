"""The masked-diffusion engine: from a fill request (text) to candidates (text + per-token confidence).

One bidirectional transformer (model/transformer.py) denoises masked gap positions, sampled by
model/sampler.py. The gap is tried at each requested length budget, one row of a batch per
budget; unused budget positions come back as null tokens and are trimmed. Candidates are ranked
by the mean confidence of the tokens they keep. Windows are cut to the context by model/layout.py.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

import torch

from model.attention import backend_name
from model.boundary import strip_edges
from model.checkpoint import load_checkpoint
from model.devices import resolve_device
from model.engine import EngineInfo, LoadOptions, Passes, SharedPass, StopCheck, slow_dtype, torch_dtype
from model.families import Family, family_of, our_config
from model.layout import Layout, Span
from model.sampler import OPTIONS, Denoiser, Sample, cache_refresh, infill, revise, score_draft, seeded_generator
from model.transformer import DiffusionLM, LayerCache
from model.weights import CheckpointError
from model.windows import Edges, WindowMaker
from model.wire.protocol import Candidate, FillRequest, FillResult
from model.wire.sampling import BLOCK_FIELDS, SamplerSettings, for_request, refuse_fields, refuse_unknown_options

log = logging.getLogger("fillgap.worker")


def window_tokens(config: dict, family: Family | None = None, override: int = 0) -> int:
    """The longest window a fill is fitted to: `override` when set (`--context-tokens`), else the
    context the model was trained at: our training's seq_len, the family's (Dream and DiffuCoder
    configs say 131,072 but were trained at 2,048), or the config's (LLaDA's max_sequence_length)."""
    if override > 0:
        return override
    trained = (config.get("fillgap_training") or {}).get("seq_len")
    family_context = family.context_tokens if family is not None else None
    return int(trained or family_context or our_config(config).get("max_position_embeddings") or 512)


def calibrated_gate(config: dict) -> float | None:
    """The as-you-type gate calibrated for these weights (`fillgap measure --calibrate-gate`), which
    our checkpoints record as `fillgap_gate` in config.json; None when the config has none (every
    hub checkpoint: a threshold on one model's confidences means nothing for another's)."""
    gate = config.get("fillgap_gate")
    if gate is None:
        return None
    if isinstance(gate, bool) or not isinstance(gate, int | float) or not 0 < gate < 1:
        raise CheckpointError(f"config.json: fillgap_gate must be a number between 0 and 1, not {gate!r}")
    return float(gate)


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
        return self._passes.logits(ids, key_padding, cols)  # only these columns reach the output layer

    def __call__(
        self,
        ids: torch.Tensor,
        key_padding: torch.Tensor | None = None,
        *,
        cache: list[LayerCache] | None = None,
        positions: torch.Tensor | None = None,
        heads: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self._passes.solo(lambda: self._model(ids, key_padding, cache=cache, positions=positions, heads=heads))

    def new_cache(self) -> list[LayerCache]:
        return self._model.new_cache()


def _note_truncation(req: FillRequest, around: tuple[int, int], limit: int) -> None:
    """A request longer than the context window is cut to fit (fit_window), never refused: say so.
    Token counts only; the text of a document never goes to the log."""
    n_prefix, n_suffix = around
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

    def __init__(self, folder: Path, options: LoadOptions | None = None) -> None:
        options = options or LoadOptions()
        if options.threads:
            torch.set_num_threads(options.threads)
        self.folder = Path(folder)
        self.device = resolve_device(options.device)  # what `info` reports: the device the weights are on
        dt = torch_dtype(options.dtype, self.device, cpu_bf16_ok=True)  # auto: bf16 only where it is fast
        why = slow_dtype(dt, self.device)
        if why:  # asked for by name: loaded as asked, once warned
            log.warning("%s", why)
        self.model, self.tok, self.config = load_checkpoint(self.folder, dt, self.device, options.progress)
        self.family = family_of(self.config)
        self.limit = window_tokens(self.config, self.family, options.context_tokens)
        self.typing_gate = calibrated_gate(self.config)  # a bad value fails the load, not a fill
        self.windows = WindowMaker(self.tok, self.model.config.vocab_size, self.device)
        self.backend = backend_name(self.device, dt)

    @property
    def info(self) -> EngineInfo:
        dtype = str(next(self.model.parameters()).dtype).removeprefix("torch.")
        return EngineInfo(
            "masked-diffusion",
            self.device,
            self.backend,
            self.model.num_parameters(),
            self.limit,
            family=self.family.name,
            dtype=dtype,
            typing_gate=self.typing_gate,
        )

    def shared_pass(self) -> SharedPass:
        pad = self.tok.specials.pad
        # The step loop asks for each row's own columns: (rows, cols) pairs, see DiffusionLM.token_logits.
        return SharedPass(lambda ids, key_padding, at: self.model.token_logits(ids, key_padding, cols=at), pad or 0)

    def fill(self, req: FillRequest, stop: StopCheck | None = None, passes: Passes | None = None) -> FillResult:
        """Candidates for the request; `stop` (asked before each step) ends it early with `Stopped`."""
        start = time.perf_counter()
        req = replace(req, sampler=self._settings(req))  # resolved once: every step below sees these
        model: Denoiser = self.model if passes is None else BatchedModel(self.model, passes)
        sp = self.tok.specials
        if req.draft is not None:
            return self._revise(model, req, start, stop)
        windows = self.windows.fill(req, self.limit)  # the gap's edges healed (model/boundary.py)
        _note_truncation(req, windows.around, self.limit)
        ids, gap, key_padding = self._batch(windows.layouts)
        sample = infill(model, ids, gap, req.sampler, sp, key_padding, stop, windows.allowed)
        return self._result(req.id, sample, windows.layouts, start, windows.edges)

    def _settings(self, req: FillRequest) -> SamplerSettings:
        """The request's settings over the family's (typing profile, then sampler) over the base."""
        refuse_fields(req.sampler, BLOCK_FIELDS, "masked-diffusion")  # set ones only: resolved ones are all set
        s = for_request(req.sampler, req.profile, self.family.sampler, self.family.typing)
        refuse_unknown_options(s, OPTIONS, "masked-diffusion")
        cache_refresh(s)  # a malformed value is refused before the fill, not in it
        log.debug("fill %s (%s): %s", req.id, req.profile, s)
        return s

    def _revise(
        self,
        model: Denoiser,
        req: FillRequest,
        start: float,
        stop: StopCheck | None,
    ) -> FillResult:
        """Re-mask the draft's tokens that overlap req.remask and denoise only those."""
        sp = self.tok.specials
        rev = self.windows.revision(req, self.limit)  # the draft with its healed edges (model/windows.py)
        _note_truncation(req, rev.around, self.limit)
        window, (span,) = rev.window, rev.window.spans
        ids, gap, _ = self._batch([window])
        chosen = torch.zeros_like(gap)
        marked = [
            span.start + j
            for j, (a, b) in enumerate(rev.offsets)
            if any(a < end and b > begin for begin, end in req.remask) or rev.remask_all
        ]
        chosen[0, marked] = True  # one write on the device, not one per token
        confidence = torch.where(gap, 1.0, 0.0)
        if req.remask_below > 0 and not req.remask and not rev.remask_all:
            likely = score_draft(model, ids, gap, sp)
            chosen = gap & (likely < req.remask_below)
            confidence = torch.where(gap, likely, confidence)
        gen = seeded_generator(req.sampler, ids.device)
        passes = (
            revise(model, ids, chosen, confidence, req.sampler, sp, gen=gen, stop=stop, allowed=rev.allowed)
            if chosen.any()
            else 0
        )
        sample = Sample(ids=ids, confidence=confidence, forward_passes=passes, refined=int(chosen.sum()))
        return self._result(req.id, sample, [window], start, [rev.edges])

    def _batch(self, layouts: list[Layout]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(ids, gap, key_padding) of the right-padded rows, made on the model's device: rows are
        laid out in host lists and each tensor crosses to the device in one copy."""
        sp = self.tok.specials
        pad = sp.pad if sp.pad is not None else 0
        width = max(len(lay.ids) for lay in layouts)
        rows = [lay.ids + [pad] * (width - len(lay.ids)) for lay in layouts]
        real = [[i < len(lay.ids) for i in range(width)] for lay in layouts]
        gap = [[False] * width for _ in layouts]
        for marks, lay in zip(gap, layouts, strict=True):
            for span in lay.spans:
                for i in range(span.start, span.start + span.length):
                    marks[i] = True
        padded = any(len(lay.ids) < width for lay in layouts)
        key_padding = torch.tensor(real, dtype=torch.bool, device=self.device) if padded else None
        ids = torch.tensor(rows, dtype=torch.long, device=self.device)
        return ids, torch.tensor(gap, dtype=torch.bool, device=self.device), key_padding

    def _result(
        self, req_id: int, sample: Sample, layouts: list[Layout], start: float, edges: list[Edges]
    ) -> FillResult:
        """One candidate per span of every row, best first (per hole, for a joint fill), each without
        the edges its hole took from the text around it."""
        candidates = [
            strip_edges(
                self._candidate(sample.ids[r].cpu(), sample.confidence[r].cpu(), span),
                edges[span.hole].lead,
                edges[span.hole].trail,
            )
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
        """The span's text up to its first filler (the rest pads the budget), no special token in it."""
        sp = self.tok.specials
        toks = ids[span.start : span.start + span.length].tolist()
        span_conf = conf[span.start : span.start + span.length].tolist()
        end = toks.index(sp.filler) if sp.filler in toks else len(toks)
        kept = [(t, c) for t, c in zip(toks[:end], span_conf[:end], strict=True) if t not in sp.drop]
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
