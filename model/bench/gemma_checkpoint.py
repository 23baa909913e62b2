"""`fillgap bench --model DIR` for a DiffusionGemma folder: the loaded checkpoint timed through our own loop.

model/bench/decode.py hands a folder whose family runs on the block-diffusion engine to `bench_folder`,
which answers in decode.py's row shape (gap, method, tok_s, median_s, min_s, max_s, forward_passes,
vs_ar; with a roofline device also bound_tok_s and fraction_of_bound), so `fillgap bench` prints and
charts it as it does the masked family's. Per gap, after the same prompt of held-out code:

- "autoregressive (KV cache, greedy)": the same weights' encoder writing the gap a token at a time
  (model/bench/gemma_decode.py's baseline), the prompt's prefill included;
- "diffusion N steps": `generate` (model/block_decode.py: the loop a fill runs, over a
  DirectRunner) writing ceil(gap / canvas) whole canvases at N steps each, early stop off (so each
  row runs exactly its steps: random weights never stop early), the prefill included;
- "diffusion fill (checkpoint settings)": the engine's own fill of the gap (instruction mode by
  default: chat template, prefix and suffix; generation_config.json's settings, early stop on) as
  the worker runs it; its forward_passes are the decoder passes it took.

forward_passes counts decoder passes (encoder passes aside). A canvas writes `canvas_length`
tokens whatever the gap, so a gap shorter than a canvas pays for a whole one: that is what a fill
of that gap costs. The random-weight bench at the real 26B-A4B shapes is model/bench/gemma_decode.py.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch

from model.bench.decode import _concurrent, _device, _held_out_tokens, _print_rows, _row
from model.bench.gemma_decode import autoregressive_tokens
from model.bench.roofline import Device, MoEPass, MoEShape, autoregressive_token_bound, canvas_bound, moe_pass_seconds
from model.block_decode import DirectRunner, generate
from model.block_sampler import BlockSettings
from model.checkpoint import read_config, resolve
from model.engine import load_engine
from model.families import UnknownArchitecture, family_of
from model.weights import CheckpointError
from model.wire.protocol import FillRequest, SamplerSettings

AR = "autoregressive (KV cache, greedy)"
FILL = "diffusion fill (checkpoint settings)"
STEPS = {"full": "12,24,48", "quick": "12"}  # the step counts per canvas


def is_block_diffusion(spec: str) -> bool:
    """Whether the checkpoint `spec` names runs on the block-diffusion engine (model/families.py);
    False for anything unreadable, which the masked path then reports as it always has."""
    try:
        return family_of(read_config(resolve(spec))).engine == "block-diffusion"
    except (CheckpointError, UnknownArchitecture, OSError, ValueError):
        return False


def _timed(fn: Callable[[], int], repeats: int, device: str) -> tuple[list[float], int]:
    """fn's seconds over `repeats` runs (the device's queued work included) and its last pass count."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    times, passes = [], 0
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        passes = fn()
        sync()
        times.append(time.perf_counter() - start)
    return times, passes


def _autoregressive(model: Any, prompt: torch.Tensor, gap: int, device: torch.device) -> int:
    runner = DirectRunner(model, 1, device)
    runner.encode(prompt[:, :-1])
    autoregressive_tokens(runner, prompt[:, -1:], gap)
    return gap


def _diffusion(model: Any, prompt: torch.Tensor, s: BlockSettings, gen: torch.Generator, device: torch.device) -> int:
    result = generate(DirectRunner(model, 1, device), prompt, s, gen)  # no end ids: every canvas is written
    return int(result.passes[0])


def _bounds(rows: list[dict], m: MoEShape, dev: Device, context: int, canvas: int, bpw: int) -> None:
    """Each timed-loop row's roofline bound: the prefill, then its canvases or its tokens."""
    prefill = moe_pass_seconds(m, dev, MoEPass(1, context, 0, scored=0, decoder=False), bpw)
    for r in rows:
        if r["method"] == AR:
            bound = prefill + r["gap"] * autoregressive_token_bound(m, dev, 1, context + r["gap"], bpw)
        elif r["method"] == FILL:
            continue  # another prompt (the chat template around prefix and suffix), and early stops
        else:
            steps = r["forward_passes"] // math.ceil(r["gap"] / canvas)
            bound = prefill + math.ceil(r["gap"] / canvas) * canvas_bound(m, dev, 1, canvas, context, steps, bpw)
        r["bound_tok_s"] = r["gap"] / bound
        r["fraction_of_bound"] = bound / r["median_s"]


def run(engine: Any, tokens: list[int], gaps: list[int], steps: list[int], ns: argparse.Namespace) -> list[dict]:
    """The rows of every gap (see the module's docstring), `ns.repeats` timed runs each after one warm-up."""
    loaded, model, dev = engine.loaded, engine.model, engine.device
    context, tok = ns.context, loaded.tokenizer
    gen = torch.Generator(device=dev).manual_seed(0)
    base = BlockSettings.from_config(loaded.generation)
    start = [] if loaded.specials.bos is None else [loaded.specials.bos]
    prompt = torch.tensor([start + tokens[:context]], device=dev)
    _diffusion(model, prompt, replace(base, max_steps=1, max_new_tokens=1), gen, dev)  # warm-up
    _autoregressive(model, prompt, 2, dev)
    brief = SamplerSettings(max_denoising_steps=1, refine_rounds=0)  # the template and the fill's path, warmed
    engine.fill(FillRequest(id=0, prefix=tok.decode(tokens[:context]), suffix="", budgets=[1], sampler=brief))
    rows = []
    for gap in gaps:
        ar_times, _ = _timed(lambda g=gap: _autoregressive(model, prompt, g, dev), ns.repeats, ns.device)
        ar_median = statistics.median(ar_times)
        rows.append(_row(AR, gap, ar_times, gap, ar_median))
        for n in steps:
            s = replace(base, max_steps=n, stability_threshold=None, confidence_threshold=None, max_new_tokens=gap)
            times, passes = _timed(lambda s=s: _diffusion(model, prompt, s, gen, dev), ns.repeats, ns.device)
            rows.append(_row(f"diffusion {n} steps", gap, times, passes, ar_median))
        prefix, suffix = tok.decode(tokens[:context]), tok.decode(tokens[context + gap : 2 * context + gap])
        req = FillRequest(id=gap, prefix=prefix, suffix=suffix, budgets=[gap])
        times, passes = _timed(lambda r=req: engine.fill(r).forward_passes, ns.repeats, ns.device)
        rows.append(_row(FILL, gap, times, passes, ar_median))
    return rows


def _meta(ns: argparse.Namespace, engine: Any, steps: list[int], bound: Device | None, argv: list[str]) -> dict:
    import transformers  # loaded with the folder already

    loaded = engine.loaded
    return {
        "machine": platform.platform(),
        "processor": platform.processor(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": torch.get_num_threads(),
        "device": str(engine.device),
        "backend": engine.info.backend,
        "model": ns.model,
        "family": "diffusion_gemma",
        "engine": "block-diffusion",
        "parameters": sum(p.numel() for p in engine.model.parameters()),
        "dtype": str(loaded.dtype).removeprefix("torch."),
        "load_s": loaded.seconds,
        "canvas": loaded.canvas_length,
        "steps": steps,
        "generation": loaded.generation,
        "context": ns.context,
        "repeats": ns.repeats,
        "loop": "model/block_decode.generate over model/block_decode.DirectRunner; the fill row: the engine's fill",
        "bound_device": None
        if bound is None
        else {"name": bound.name, "bandwidth_bytes_s": bound.bandwidth, "flops": bound.flops},
        "command": "python -m model.bench.decode " + " ".join(argv),
    }


def bench_folder(ns: argparse.Namespace, argv: list[str]) -> int:
    """model.bench.decode's main for a block-diffusion folder: the same flags, rows, table and JSON."""
    if ns.random_model:
        raise SystemExit(
            "--random-model times a masked-diffusion shape; DiffusionGemma at the real 26B-A4B shapes with "
            "random weights is `python -m model.bench.gemma_decode`"
        )
    engine = load_engine(resolve(ns.model), device=ns.device, threads=ns.threads)
    gaps = [int(g) for g in ns.gaps.split(",")]
    steps = [int(s) for s in (ns.steps or STEPS["quick" if ns.quick else "full"]).split(",")]
    tokens = _held_out_tokens(engine.loaded.tokenizer, 2 * ns.context + max(gaps))
    with torch.inference_mode():
        rows = run(engine, tokens, gaps, steps, ns)
    bound = _device(ns)
    if bound is not None:
        m = MoEShape.from_text_config(engine.loaded.text_config)
        bpw = torch.finfo(engine.loaded.dtype).bits // 8
        _bounds(rows, m, bound, ns.context, engine.loaded.canvas_length, bpw)
    meta = _meta(ns, engine, steps, bound, argv)
    del engine  # the concurrency part's worker loads its own copy: on one GPU, two would not fit
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    concurrent = _concurrent(ns)
    _print_rows(rows)
    if ns.json:
        ns.json.write_text(json.dumps({"meta": meta, "rows": rows, "concurrency": concurrent}, indent=2))
    return 0
