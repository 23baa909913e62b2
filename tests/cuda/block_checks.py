"""What the block-diffusion (DiffusionGemma) CUDA check runs, step by step.

A tiny random DiffusionGemma folder (tests/model/gemma/folders.py: the published config.json keys,
sizes shrunk, bf16 shards, the vision tower stored) is loaded through the worker's own loader on
the device; then: every tensor where it should be and in the dtype asked for, attention really
through torch SDPA, our denoising loop on the device (ids in range, confidences in [0, 1], the
same seed twice the same canvas), the batched decoder pass (rows of different prompt lengths in
one padded pass) against each row alone, in float32 and in bf16, and fills through the engine
alone and through one Batcher. Each step raises when it fails and returns what it measured;
tests/cuda/check.py's Report times it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import torch

from model.block_batch import DecodeItem, decode_alone, decode_group
from model.block_decode import DirectRunner
from model.block_sampler import BlockSettings, denoise_canvas
from model.engine import Engine, load_engine
from model.serve.batcher import Batcher, Job
from model.wire.protocol import ErrorReply, FillRequest, FillResult
from model.wire.sampling import SamplerSettings
from tests.cuda.checks import _check_result

PREFIX = "def mean(values):\n    total = 0\n    for v in values:\n        total += v\n"
SUFFIX = "\n    return total / len(values)\n\n\nprint(mean([1, 2, 3]))\n"
INPAINT = SamplerSettings(infill="inpainting")


def steps(n: int) -> BlockSettings:
    """n denoising steps a canvas, the early stop off (random weights would not stop anyway)."""
    return BlockSettings(max_steps=n, stability_threshold=None, confidence_threshold=None)


def build_folder(root: Path) -> tuple[Path, dict[str, Any]]:
    from tests.model.gemma import folders

    folder = folders.build(root)
    size = sum(p.stat().st_size for p in folder.glob("*.safetensors"))
    return folder, {"folder": folder.name, "safetensors_bytes": size}


def load(folder: Path, device: str, dtype: str = "auto") -> tuple[Engine, dict[str, Any]]:
    """The folder through load_engine; every parameter and buffer on `device` (no vision tower,
    no fp32 copy left behind), floating weights in the dtype the load chose, attention SDPA."""
    engine: Any = load_engine(folder, device=device, dtype=dtype)
    model, want = engine.model, torch.device(device).type
    where = {t.device.type for t in [*model.parameters(), *model.buffers()]}
    assert where == {want}, f"tensors on {where}, not only {want}"
    names = [n for n, _ in model.named_parameters()]
    assert not any("vision" in n for n in names), "the vision tower was loaded"
    dtypes = {p.dtype for p in model.parameters() if p.is_floating_point()}
    assert dtypes == {engine.loaded.dtype}, f"weights in {dtypes}, the load said {engine.loaded.dtype}"
    attention = model.config.get_text_config()._attn_implementation
    assert attention == "sdpa", f"attention through {attention}"
    return engine, {"device": str(engine.device), "dtype": str(engine.loaded.dtype), "info": engine.info.backend}


def _prompt(engine: Any, rows: int, length: int, seed: int) -> torch.Tensor:
    gen = torch.Generator(device=engine.device).manual_seed(seed)
    vocab = engine.model.config.text_config.vocab_size
    return torch.randint(5, vocab, (rows, length), generator=gen, device=engine.device)


def sdpa_runs(engine: Any) -> dict[str, Any]:
    """One encoder and one decoder pass call torch SDPA once per layer each (no silent fallback)."""
    layers = engine.model.config.text_config.num_hidden_layers
    sdpa, calls = torch.nn.functional.scaled_dot_product_attention, []

    def counted(*args: Any, **kwargs: Any) -> torch.Tensor:
        calls.append(args[0].device.type)
        return sdpa(*args, **kwargs)

    runner = DirectRunner(engine.model, 1, engine.device)
    torch.nn.functional.scaled_dot_product_attention = counted
    try:
        with torch.no_grad():
            runner.encode(_prompt(engine, 1, 12, 0))
            runner.decode(_prompt(engine, 1, runner.canvas, 1), None)
    finally:
        torch.nn.functional.scaled_dot_product_attention = sdpa
    assert len(calls) == 2 * layers, f"SDPA ran {len(calls)} times for 2 x {layers} layers"
    assert set(calls) == {engine.device.type}, f"SDPA ran on {set(calls)}"
    return {"sdpa_calls": len(calls)}


def _canvas(engine: Any, s: BlockSettings, seed: int) -> Any:
    runner = DirectRunner(engine.model, 2, engine.device)
    with torch.no_grad():
        runner.encode(_prompt(engine, 2, 20, 0))
        return denoise_canvas(runner, s, torch.Generator(device=engine.device).manual_seed(seed))


def denoise(engine: Any, n: int) -> dict[str, Any]:
    """Our loop on the device, n steps: outputs there, ids in the vocabulary, confidences in
    [0, 1], and the same seed gives the same canvas."""
    s = steps(n)
    first, again = _canvas(engine, s, 7), _canvas(engine, s, 7)
    vocab = engine.model.config.text_config.vocab_size
    assert first.tokens.device == engine.device and first.confidences.device == engine.device
    assert 0 <= int(first.tokens.min()) and int(first.tokens.max()) < vocab, "an id outside the vocabulary"
    assert bool(((first.confidences >= 0) & (first.confidences <= 1)).all()), "a confidence outside [0, 1]"
    assert first.steps == n and not bool(first.stopped_early.any())
    assert torch.equal(first.tokens, again.tokens), "the same seed denoised another canvas"
    return {"steps": first.steps, "accepted_per_step": first.accepted}


def _item(engine: Any, length: int, seed: int, self_cond: bool) -> DecodeItem:
    runner = DirectRunner(engine.model, 1, engine.device)
    runner.encode(_prompt(engine, 1, length, seed))
    canvas = _prompt(engine, 1, runner.canvas, seed + 100)
    sc = runner.decode(canvas, None) if self_cond else None  # a second step's input
    return DecodeItem(canvas=canvas, self_cond=sc, cache=runner.cache)


def batched_vs_alone(engine: Any, atol: float, rtol: float) -> dict[str, Any]:
    """Rows with prompt lengths 16 tokens apart (one on its first step, one with self-conditioning)
    in one padded decoder pass: each row's logits against the row run alone."""
    with torch.no_grad():
        items = [_item(engine, 9, 1, self_cond=False), _item(engine, 25, 2, self_cond=True)]
        alone = [decode_alone(engine.model, it).float() for it in items]
        together = [t.float() for t in decode_group(engine.model, items)]
    diffs = [float((a - t).abs().max()) for a, t in zip(alone, together, strict=True)]
    scale = max(float(a.abs().max()) for a in alone)
    assert max(diffs) <= atol + rtol * scale, f"batched rows differ from alone by {diffs} (logits up to {scale:.3f})"
    return {"max_abs_diff": diffs, "max_abs_logit": scale, "dtype": str(engine.loaded.dtype)}


def fills(n: int) -> list[FillRequest]:
    """Instruction mode, inpainting and a revision: the fills the engine runs, alone and batched."""
    draft = "        total = total + v"
    return [
        FillRequest(id=1 + 3 * n, prefix=PREFIX, suffix=SUFFIX, budgets=[24]),
        FillRequest(id=2 + 3 * n, prefix=PREFIX, suffix=SUFFIX, budgets=[16], sampler=INPAINT),
        FillRequest(id=3 + 3 * n, prefix=PREFIX, suffix=SUFFIX, draft=draft, remask=[[8, 13]]),
    ]


def batched(engine: Any, reqs: list[FillRequest]) -> dict[str, Any]:
    """The fills submitted at once to one Batcher: each answers, and some decoder pass ran the
    canvases of two fills or more (the engine's group function sees the items of every pass;
    the encoder passes run one fill each, so the worker's pass and row counts alone cannot tell)."""
    group, sizes = engine._decode_many, []

    def counted(items: list[Any]) -> list[Any]:
        sizes.append(len(items))
        return group(items)

    engine._decode_many = counted
    answers: dict[int, FillResult | ErrorReply] = {}
    done = threading.Event()

    def reply(msg: FillResult | ErrorReply) -> None:
        answers[msg.id] = msg
        if len(answers) == len(reqs):
            done.set()

    try:
        batcher = Batcher(engine, gather_s=0.01)
        for req in reqs:
            batcher.submit(Job(req, reply, owner=None))
        assert done.wait(300), f"only {len(answers)} of {len(reqs)} batched fills answered"
    finally:
        engine._decode_many = group
    failed = {i: a.message for i, a in answers.items() if isinstance(a, ErrorReply)}
    assert not failed, f"batched fills failed: {failed}"
    for answer in answers.values():
        _check_result(answer)  # type: ignore[arg-type]
    assert sizes and max(sizes) >= 2, f"no decoder pass was shared (items a pass: {sizes})"
    return {"fills": len(reqs), "decoder_passes": len(sizes), "most_fills_a_pass": max(sizes)}
