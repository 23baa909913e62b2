"""The DiffusionGemma engine on a tiny random folder (tests/model/gemma/folders.py, an 8-token
canvas so that a step is cheap over the real 262,144-id head): instruction mode end to end,
revise, cancellation at a step boundary, and two fills in the worker's batch sharing decoder
passes (what `fillgap status` reports)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch

from model.block_decode import DirectRunner
from model.engine import Stopped, load_engine
from model.gemma_prompt import MARKER
from model.serve.batcher import Batcher, Job
from model.serve.session import Worker
from model.wire.protocol import ErrorReply, FillRequest, FillResult, Ready, SamplerSettings
from tests.model.gemma.folders import build
from tests.waiting import until

pytest.importorskip("transformers")

CANVAS = 8
STEPS = SamplerSettings(max_denoising_steps=4, seed=3)  # random weights never stop early: 4 passes a canvas


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = build(tmp_path_factory.mktemp("gemma"), canvas=CANVAS, name="diffusiongemma-c8")
    return load_engine(folder, device="cpu", threads=1)


@pytest.fixture()
def decoder_inputs(engine: Any) -> Iterator[list[torch.Tensor]]:
    """The canvas of every decoder pass, as the decoder got it."""
    seen: list[torch.Tensor] = []

    def hook(_module: Any, _args: Any, kwargs: dict[str, Any]) -> None:
        seen.append(kwargs["decoder_input_ids"].clone())

    handle = engine.model.model.decoder.register_forward_pre_hook(hook, with_kwargs=True)
    yield seen
    handle.remove()


def test_diffusion_gemma_engine_reports_its_family_canvas_and_experts(engine: Any) -> None:
    info = engine.info
    assert (info.name, info.family, info.canvas_tokens, info.experts, info.experts_active) == (
        "block-diffusion",
        "diffusion_gemma",
        CANVAS,
        4,
        2,
    )
    assert info.parameters > 0 and info.dtype == "float32" and "SDPA" in info.backend


class _Scripted(DirectRunner):
    """The real encoder; a decoder whose logits spell `answer` on the canvas, so the sampler
    accepts it at once. What the engine then does with it (cut, clean, confidences) is real."""

    def __init__(self, model: Any, batch: int, device: torch.device, answer: list[int], prompts: list) -> None:
        super().__init__(model, batch, device)
        self.answer, self.prompts, self.canvases = answer, prompts, 0

    def encode(self, ids: torch.Tensor) -> None:
        self.prompts.append(ids[0].tolist())
        super().encode(ids)

    def decode(self, canvas: torch.Tensor, self_cond: torch.Tensor | None) -> torch.Tensor:
        k = len(self.prompts) - 1  # the canvas after the k-th encoded piece
        want = (self.answer + [0] * (k + 1) * self.canvas)[k * self.canvas : (k + 1) * self.canvas]
        logits = torch.full((1, self.canvas, self.vocab), -30.0, device=self.device)
        logits[0, torch.arange(self.canvas), torch.tensor(want)] = 30.0
        return logits


def test_diffusion_gemma_instruction_mode_builds_the_template_and_cleans_the_answer(
    engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    tok = engine.loaded.tokenizer
    prefix, suffix = "def add(a, b):\n    ", "\n\nprint(add(1, 2))\n"
    said = "```python\n    return a + b\n```\nThis adds them."
    answer = tok.encode(said) + [engine.loaded.end_of_turn] + tok.encode("junk after the turn")
    prompts: list[list[int]] = []
    monkeypatch.setattr(
        engine, "runner", lambda rows, passes: _Scripted(engine.model, rows, engine.device, answer, prompts)
    )
    req = FillRequest(id=1, prefix=prefix, suffix=suffix, budgets=[40], sampler=STEPS)
    (got,) = engine.fill(req).candidates
    prompt = tok.decode(prompts[0])
    assert prompt.startswith("<bos><|turn>user\n") and prompt.endswith("<|turn>model\n<|channel>thought\n<channel|>")
    assert prefix + MARKER + suffix.rstrip("\n") in prompt
    assert got.text == "return a + b"
    assert "".join(got.tokens).strip() == "return a + b" and len(got.confidences) == len(got.tokens)
    assert all(c > 0.99 for c in got.confidences)  # the scripted tokens were certain


@pytest.mark.slow  # over 3 s: several fills of decoder passes over a 262,144-id head
def test_diffusion_gemma_instruction_fill_with_random_weights_has_the_shape_of_an_answer(
    engine: Any, decoder_inputs: list[torch.Tensor]
) -> None:
    req = FillRequest(id=2, prefix="x = ", suffix="\n", budgets=[12], sampler=STEPS)
    result = engine.fill(req)
    (got,) = result.candidates
    assert result.forward_passes == len(decoder_inputs) == 2 * 4  # 12 tokens: two 8-token canvases, 4 steps each
    assert len(got.tokens) == len(got.confidences) <= 12 and all(0.0 <= c <= 1.0 for c in got.confidences)
    assert all(t.shape == (1, CANVAS) for t in decoder_inputs)


def test_diffusion_gemma_a_cancelled_fill_stops_at_the_next_step(
    engine: Any, decoder_inputs: list[torch.Tensor]
) -> None:
    asked = 0

    def stop() -> bool:
        nonlocal asked
        asked += 1
        return asked > 3  # cancelled after its third pass

    req = FillRequest(id=3, prefix="x = ", suffix="\n", budgets=[8], sampler=SamplerSettings(max_denoising_steps=40))
    with pytest.raises(Stopped):
        engine.fill(req, stop=stop)
    assert len(decoder_inputs) == 3


def test_diffusion_gemma_revise_touches_only_the_positions_asked_for(
    engine: Any, decoder_inputs: list[torch.Tensor]
) -> None:
    tok = engine.loaded.tokenizer
    draft = "def add(a, b):\n    return a + b\n"
    enc = tok.tok.encode(draft, add_special_tokens=False)
    hit = draft.index("return"), draft.index("return") + len("return")
    marked = [a < hit[1] and b > hit[0] for a, b in enc.offsets]
    req = FillRequest(
        id=4, prefix="import os\n", suffix="print(add(1, 2))\n", draft=draft, remask=[list(hit)], sampler=STEPS
    )
    (got,) = engine.fill(req).candidates
    want = tok.token_texts(enc.ids)
    assert len(got.tokens) == len(want)  # a random token could end the text early; seed 3 writes none
    for i, (token, conf) in enumerate(zip(got.tokens, got.confidences, strict=True)):
        if marked[i]:
            assert token != want[i]  # written again (a random weight's draw out of 262,144 ids)
        else:
            assert (token, conf) == (want[i], 1.0)
    # Only the second canvas (draft tokens 8..15) holds marked tokens: the first, all held, took no
    # pass. At every step of the second the decoder saw the held tokens in place.
    assert len(decoder_inputs) == 4 and not any(marked[:CANVAS]) and any(marked[CANVAS:])
    for canvas in decoder_inputs:
        for j in range(min(CANVAS, len(marked) - CANVAS)):
            if not marked[CANVAS + j]:
                assert int(canvas[0, j]) == enc.ids[CANVAS + j]


def _status(batcher: Batcher) -> Any:
    ready = Ready(model="tiny", device="cpu", parameters=1, context_tokens=1)
    return Worker(batcher, ready).status(0)


@pytest.mark.slow  # over 3 s: several fills of decoder passes over a 262,144-id head
def test_diffusion_gemma_two_fills_a_step_apart_share_decoder_passes(engine: Any) -> None:
    batcher = Batcher(engine, gather_s=0.2)
    rows_per_pass: list[int] = []

    def count(_m: Any, _a: Any, kw: dict[str, Any]) -> None:
        rows_per_pass.append(int(kw["decoder_input_ids"].shape[0]))
        if len(rows_per_pass) == 1:  # the first fill's first step lasts until the second fill has posted its prompt
            until("the second fill's prompt", lambda: batcher.loop._posted)

    handle = engine.model.model.decoder.register_forward_pre_hook(count, with_kwargs=True)
    answers: dict[int, FillResult | ErrorReply] = {}
    steps = SamplerSettings(max_denoising_steps=6, seed=5)
    short = FillRequest(id=10, prefix="x = 1\n", suffix="\n", budgets=[8], sampler=steps)
    long = FillRequest(
        id=11, prefix="import os\nimport sys\n\n\ndef main():\n    return 1\n", suffix="\n", budgets=[8], sampler=steps
    )
    reply = lambda m: answers.__setitem__(m.id, m)  # noqa: E731
    merges = engine._decode_many.merges
    try:
        batcher.submit(Job(short, reply, owner=None))
        until("the first fill's first decoder step", lambda: len(rows_per_pass) >= 1)
        batcher.submit(Job(long, reply, owner=None))
        until("both answers", lambda: len(answers) == 2)
    finally:
        handle.remove()
    lengths = [len(engine.prompts.instruction(r.prefix, r.suffix)) for r in (short, long)]
    assert lengths[1] - lengths[0] >= 10
    status = _status(batcher)
    assert all(isinstance(a, FillResult) for a in answers.values())
    shared = rows_per_pass.count(2)
    assert shared >= 3 and sum(rows_per_pass) == 12 == status.rows  # 6 steps each, most of them together
    assert status.forward_passes == 2 + len(rows_per_pass)  # two encoder prefills, then the decoder passes
    assert status.mean_batch_rows == round(12 / status.forward_passes, 2) > 1.0
    assert engine._decode_many.merges == merges + 1  # the caches were merged once, for all the shared steps
    for req in (short, long):  # each drew its own random numbers: batched, it wrote what it writes alone
        assert [c.tokens for c in answers[req.id].candidates] == [c.tokens for c in engine.fill(req).candidates]


def test_diffusion_gemma_a_cancelled_fill_leaves_the_batch_at_its_next_step(engine: Any) -> None:
    batcher = Batcher(engine, gather_s=0.05)
    answers: dict[int, FillResult | ErrorReply] = {}
    owner = object()
    req = FillRequest(id=12, prefix="x = ", suffix="\n", budgets=[8], sampler=SamplerSettings(max_denoising_steps=200))
    batcher.submit(Job(req, lambda m: answers.__setitem__(m.id, m), owner))
    until("its first steps", lambda: batcher.loop.rows_run >= 2)
    batcher.cancel(owner, 12)
    until("its answer", lambda: 12 in answers)
    cancelled = answers[12]
    assert isinstance(cancelled, ErrorReply) and cancelled.message == "cancelled"
    assert batcher.loop.rows_run < 20 and batcher.wait_idle(30)


def test_diffusion_gemma_inpainting_holds_the_suffix_on_the_canvas(
    engine: Any, decoder_inputs: list[torch.Tensor]
) -> None:
    tok = engine.loaded.tokenizer
    inpaint = SamplerSettings(max_denoising_steps=3, infill="inpainting", seed=1)
    req = FillRequest(id=20, prefix="def f():\n    ", suffix="return 1\n", budgets=[4], sampler=inpaint)
    result = engine.fill(req)
    (got,) = result.candidates
    # The file ends there, so end-of-text follows the suffix: as much of it as the canvas has room for.
    held = (tok.encode("return 1\n") + [engine.loaded.specials.eos])[:4]
    assert result.forward_passes == len(decoder_inputs) == 3
    for canvas in decoder_inputs:  # the gap's 4 positions, then the suffix, held at every step
        assert canvas[0, 4:].tolist() == held
    assert got.budget == 4 and len(got.tokens) <= 4 and "return" not in got.text


def test_diffusion_gemma_a_joint_fill_shares_a_canvas_with_the_text_between_held(
    engine: Any, decoder_inputs: list[torch.Tensor]
) -> None:
    tok = engine.loaded.tokenizer
    between = tok.encode("\ny = ")
    req = FillRequest(id=21, prefix="x = ", suffix="\n", budgets=[1], holes=["", ""], between=["\ny = "], sampler=STEPS)
    result = engine.fill(req)
    assert [c.hole for c in result.candidates] == [0, 1]
    assert len(decoder_inputs) == 4  # both holes on one canvas: one canvas's steps
    for canvas in decoder_inputs:
        assert canvas[0, 1 : 1 + len(between)].tolist() == between


@pytest.mark.slow  # over 3 s: several fills of decoder passes over a 262,144-id head
def test_diffusion_gemma_refinement_rounds_denoise_the_unsure_tokens_again(engine: Any) -> None:
    once = FillRequest(id=22, prefix="x = ", suffix="\n", budgets=[8], sampler=STEPS)
    refined = FillRequest(
        id=23,
        prefix="x = ",
        suffix="\n",
        budgets=[8],
        sampler=SamplerSettings(max_denoising_steps=4, seed=3, refine_rounds=1, tau=1.0),
    )
    # Random weights are unsure of every token: under tau 1.0 the whole canvas is denoised again.
    assert (engine.fill(once).forward_passes, engine.fill(refined).forward_passes) == (4, 8)
