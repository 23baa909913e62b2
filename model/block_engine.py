"""The block-diffusion engine (DiffusionGemma): from a fill request to candidates with confidences.

A causal encoder reads the prompt into the fill's own key/value cache; a bidirectional decoder
denoises a canvas against it (model/block_sampler.py, one canvas; model/block_decode.py, canvas
after canvas). Two infill strategies, by the `infill` setting (model/gemma_prompt.py):
"instruction" (the default: the one published checkpoint is instruction-tuned) puts the prefix, a
gap marker and the suffix in a chat turn and cleans the answer (code fences, prose, an echoed
prefix), cut at end-of-turn or end-of-text; "inpainting" encodes the prefix and lays the gap's
budget on the canvas followed by the first suffix tokens, held. `revise` (a request with a draft
and ranges) re-noises only the draft's tokens under the ranges and holds the rest.

Alone (no `passes`), a fill runs its passes on the model itself (model/block_decode.py
DirectRunner). In the worker each fill runs on its own thread: its encoder passes carry its own
cache and run `solo` between steps, and its decoder steps go to the step loop's group path, where
the canvases of every running fill share one forward (model/block_batch.py). Each fill samples
its own rows with its own generator, so a batched fill draws the random numbers it draws alone.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from model.block_batch import BatchedRunner, DecodeItem, GroupDecoder
from model.block_decode import DirectRunner, generate
from model.block_prompts import Draft, Prompts
from model.block_result import Answer, candidate, cut
from model.block_sampler import BlockRunner, BlockSettings, Held, denoise_canvas, refine_canvas, revise_canvas
from model.engine import EngineInfo, LoadOptions, Passes, SharedPass, StopCheck
from model.families import FAMILIES
from model.sampler import seeded_generator
from model.wire.protocol import Candidate, FillRequest, FillResult
from model.wire.sampling import BLOCK_FIELDS, SamplerSettings, for_request, refuse_unknown_options

log = logging.getLogger("fillgap.worker")
PROMPT_OVERHEAD = 128  # tokens the chat template and the instruction add around the prefix and suffix


def block_settings(s: SamplerSettings, budget: int) -> BlockSettings:
    """The sampler's settings (resolved: every block field set) for `budget` new tokens at most."""
    return BlockSettings(
        entropy_bound=float(s.entropy_bound),  # type: ignore[arg-type]
        t_max=s.t_max,
        t_min=s.t_min,
        max_steps=int(s.max_denoising_steps),  # type: ignore[arg-type]
        # 0 is the reference's "always stable": the stop then looks at the entropy alone
        stability_threshold=s.stability_threshold,
        confidence_threshold=s.confidence_threshold,
        max_new_tokens=max(1, budget),
        refine_rounds=int(s.refine_rounds or 0),
        tau=float(s.tau or 0.0),
    ).checked()


class BlockDiffusionEngine:
    """The `Engine` (model/engine.py) of the DiffusionGemma family."""

    def __init__(self, folder: Path, options: LoadOptions | None = None) -> None:
        from model.gemma_load import load_diffusion_gemma  # transformers comes with it

        options = options or LoadOptions()
        if options.threads:
            torch.set_num_threads(options.threads)
        self.folder = Path(folder)
        self.loaded = load_diffusion_gemma(self.folder, options)
        self.model = self.loaded.model
        self.device = torch.device(self.loaded.device)
        self.canvas = int(self.model.config.canvas_length)
        self.family = FAMILIES["diffusion_gemma"]
        self.prompts = Prompts(self.loaded, self.folder)
        text = self.loaded.text_config
        self.context = options.context_tokens or int(text.get("max_position_embeddings") or 8192)
        self._parameters = sum(p.numel() for p in self.model.parameters())
        # One group function for the step loop: every fill's decoder step posts to this same object.
        self._decode_many = GroupDecoder(self.model, self.prompts.pad_id)

    @property
    def info(self) -> EngineInfo:
        backend = f"torch SDPA ({str(self.loaded.dtype).removeprefix('torch.')})"
        return EngineInfo(
            "block-diffusion", str(self.device), backend, self._parameters, self.context, **self.loaded.status()
        )

    def shared_pass(self) -> SharedPass:
        return SharedPass(_no_plain_rows, self.prompts.pad_id)

    def runner(self, rows: int, passes: Passes | None) -> BlockRunner:
        """A fresh cache for one fill: alone on the model, or in the worker's batch."""
        if passes is None:
            return DirectRunner(self.model, rows, self.device)
        return BatchedRunner(self.model, rows, self.device, passes, self._decode_many)

    def fill(self, req: FillRequest, stop: StopCheck | None = None, passes: Passes | None = None) -> FillResult:
        """Candidates for the request; `stop` (asked before each decoder pass) ends it with `Stopped`."""
        start = time.perf_counter()
        req = replace(req, sampler=self._settings(req))
        with torch.no_grad():
            if req.draft is not None:
                candidates, used = self._revise(req, stop, passes)
            elif req.holes or req.sampler.infill == "inpainting":
                candidates, used = self._inpaint(req, stop, passes)
            else:
                candidates, used = self._instruct(req, stop, passes)
        candidates.sort(key=lambda c: (c.hole, -c.mean_confidence))
        return FillResult(
            id=req.id, candidates=candidates, elapsed_ms=(time.perf_counter() - start) * 1000, forward_passes=used
        )

    def _settings(self, req: FillRequest) -> SamplerSettings:
        """The request's settings over the family's typing profile, the checkpoint's
        generation_config.json and the family's defaults (model/wire/sampling.py)."""
        checkpoint = {k: v for k, v in self.loaded.generation.items() if k in BLOCK_FIELDS}
        s = for_request(req.sampler, req.profile, self.family.sampler, self.family.typing, checkpoint)
        refuse_unknown_options(s, (), "block-diffusion")
        # Refinement rounds only when the request asks: the base default is the masked sampler's,
        # and the reference loop runs none.
        s = replace(s, refine_rounds=req.sampler.refine_rounds or 0)
        log.debug("fill %s (%s): %s", req.id, req.profile, s)
        return s

    def _instruct(self, req: FillRequest, stop: StopCheck | None, passes: Passes | None) -> tuple[list[Candidate], int]:
        """One answer in a chat turn, cleaned; the longest budget caps its tokens."""
        budget = max(req.budgets)
        prefix, suffix = self.prompts.fit(req, self._limit(budget) - PROMPT_OVERHEAD)
        ids = self.prompts.instruction(prefix, suffix, req.context)
        out = generate(
            self.runner(1, passes),
            _row(ids, self.device),
            block_settings(req.sampler, budget),
            seeded_generator(req.sampler, self.device),
            eos_ids=self.prompts.ends,
            pad_id=self.prompts.pad_id,
            stop=stop,
        )
        answer = cut(out.ids[0].tolist()[:budget], out.confidences[0].tolist()[:budget], self.prompts.ends, ())
        span = functools.partial(_answer_span, prefix=prefix, suffix=suffix)
        found = candidate(answer, self.prompts.decode, self.prompts.token_text, budget, span, self.prompts.drop)
        return [found], int(out.passes[0])

    def _inpaint(self, req: FillRequest, stop: StopCheck | None, passes: Passes | None) -> tuple[list[Candidate], int]:
        """The prefix is the prompt; each hole's budget lies on the canvases with the text after it
        held (model/gemma_inpaint.py): one gap, or every hole of a joint fill that fits a canvas
        together with the text between them. One candidate per hole, its unused budget trimmed."""
        from model.gemma_inpaint import done_after, hole_tokens, layout

        budget = max(req.budgets)
        holes = max(1, len(req.holes))
        prompt, suffix, whole = self.prompts.around(req, self._limit(budget * holes), self.canvas)
        between = [self.prompts.tok.encode(t) for t in req.between] if req.holes else []
        eos = self.loaded.specials.eos
        plan = layout(
            [budget] * holes,
            between,
            suffix,
            self.canvas,
            pad_id=self.prompts.pad_id,
            eos_id=eos,
            ends_text=whole,
            free_id=self.prompts.pad_id,
            min_held=min(16, self.canvas // 2),
        )
        stops = {*self.prompts.ends, self.prompts.pad_id}
        runner = self.runner(1, passes)
        runner.encode(_row(prompt, self.device))
        settings = block_settings(req.sampler, self.canvas)
        gen = seeded_generator(req.sampler, self.device)
        outputs: list[list[int]] = []
        confidences: list[list[float]] = []
        used = 0
        for i, canvas in enumerate(plan.canvases):
            if i:
                runner.encode(_row(outputs[-1] + canvas.prelude, self.device))
            elif canvas.prelude:
                runner.encode(_row(canvas.prelude, self.device))
            held = Held(_mask(canvas.held, self.device), _row(canvas.tokens, self.device))
            result = denoise_canvas(runner, settings, gen, held=held, stop=stop)
            result = refine_canvas(runner, settings, gen, result, held=held, stop=stop)
            outputs.append(result.tokens[0].tolist())
            confidences.append(result.confidences[0].tolist())
            used += int(result.passes[0])
            if done_after(plan, i, outputs, stops):
                break
        found = []
        for h, places in enumerate(hole_tokens(plan, outputs, stops)):
            answer = Answer([outputs[c][p] for c, p in places], [confidences[c][p] for c, p in places])
            found.append(
                candidate(
                    answer, self.prompts.decode, self.prompts.token_text, plan.free[h], None, self.prompts.drop, h
                )
            )
        return found, used

    def _revise(self, req: FillRequest, stop: StopCheck | None, passes: Passes | None) -> tuple[list[Candidate], int]:
        """Re-noise the draft's tokens that overlap req.remask and denoise only those; every other
        token is held, so it comes back as it was. The prefix is the prompt and the suffix is held
        after the draft, whatever the infill strategy: the tokens written again see both sides."""
        draft = self.prompts.draft(req, self._limit(len(req.draft or "") + 1), self.canvas)
        if not req.remask and req.remask_below > 0:
            draft = replace(draft, marked=self._unlikely(draft, req.remask_below, passes))
        runner = self.runner(1, passes)
        runner.encode(_row(draft.prompt, self.device))
        gen = seeded_generator(req.sampler, self.device)
        settings = block_settings(req.sampler, max(1, len(draft.tokens)))
        tokens: list[int] = []
        confidences: list[float] = []
        used = 0
        for k in range(0, max(1, len(draft.tokens)), self.canvas):
            if k:
                runner.encode(_row(tokens[-self.canvas :], self.device))
            chunk = draft.canvas(k, self.canvas)
            marked = torch.tensor([chunk.renoise], dtype=torch.bool, device=self.device)
            result = revise_canvas(runner, settings, gen, _row(chunk.tokens, self.device), marked, stop=stop)
            used += int(result.passes[0])
            tokens += result.tokens[0].tolist()[: chunk.length]
            confidences += result.confidences[0].tolist()[: chunk.length]
        answer = self._answer(tokens, confidences)
        return [candidate(answer, self.prompts.decode, self.prompts.token_text, len(draft.tokens))], used

    def _unlikely(self, draft: Draft, below: float, passes: Passes | None) -> list[bool]:
        """The draft's tokens the decoder, shown the whole draft once, gives less than `below`
        (the "refine selection" action: no ranges, a threshold)."""
        runner = self.runner(1, passes)
        runner.encode(_row(draft.prompt, self.device))
        marks: list[bool] = []
        for k in range(0, len(draft.tokens), self.canvas):
            if k:
                runner.encode(_row(draft.tokens[k - self.canvas : k], self.device))
            chunk = draft.canvas(k, self.canvas)
            probs = runner.decode(_row(chunk.tokens, self.device), None)[0].softmax(-1)
            at = torch.tensor(chunk.tokens, dtype=torch.long, device=self.device)[:, None]
            likely = probs.gather(-1, at)[:, 0].tolist()
            marks += [p < below for p in likely[: chunk.length]]
        return marks

    def _answer(self, ids: list[int], confidences: list[float]) -> Answer:
        return cut(ids, confidences, self.prompts.ends, self.prompts.drop)

    def _limit(self, budget: int) -> int:
        """Prompt tokens a fill may use: the context less the canvases its budget needs."""
        canvases = -(-budget // self.canvas)
        return max(self.canvas, self.context - canvases * self.canvas)


def _answer_span(raw: str, prefix: str, suffix: str) -> tuple[int, int]:
    from model.gemma_prompt import answer_span

    return answer_span(raw, prefix, suffix)


def _no_plain_rows(ids: torch.Tensor, key_padding: torch.Tensor | None, at: tuple[torch.Tensor, torch.Tensor]) -> Any:
    raise RuntimeError("the block-diffusion engine posts no plain rows: its decoder steps use the group path")


def _row(ids: list[int], device: torch.device) -> torch.Tensor:
    return torch.tensor([ids], dtype=torch.long, device=device)


def _mask(marks: list[bool], device: torch.device) -> torch.Tensor:
    return torch.tensor([marks], dtype=torch.bool, device=device)


__all__ = ["BlockDiffusionEngine", "DecodeItem", "block_settings"]
