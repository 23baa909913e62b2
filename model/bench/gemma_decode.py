"""`python -m model.bench.gemma_decode`: DiffusionGemma's block diffusion against its own
autoregressive decoding, at the real 26B-A4B shapes with random weights, on one GPU.

Per batch size it reports the encoder's prefill (ms per prompt token), one decoder step over a
256-token canvas (the decoder forward alone, and the step with the sampling math), whole canvases
at 12, 24 and 48 steps (random weights never stop early: the early stop is off) plus the encoder
pass that appends each finished canvas to the cache, and the same weights' encoder decoding one
token at a time with a KV cache (the autoregressive baseline), all in one run; each row beside its
roofline bound (model/bench/roofline.py, MoE part) and the share of it reached, and the GPU's peak
memory. The canvases run through our own loop: model/block_sampler.py's `denoise_canvas` over
model/block_decode.py's `DirectRunner`, what a fill run alone uses.

The weights are made on the device (parameters on the meta device while transformers builds the
module, then each made once, in place, with a cheap random fill): 52 GB never passes the host.
Shapes: the `text_config` of google/diffusiongemma-26B-A4B-it's config.json (SHAPES["26b-a4b"]),
`--shape tiny` checks the code path on a CPU in seconds (tests/model/bench/test_gemma_bench.py).
Results go to OUT/gemma-bench.json and OUT/gemma-bench.md after every batch size, so a run cut
short still leaves what it measured; `--budget-s` skips batch sizes that would not fit.
On the GPU machine it runs inside tests/cuda/device_run.py (see tests/cuda/README.md).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from model.bench.gemma_report import goals, markdown
from model.bench.roofline import (
    Device,
    MoEPass,
    MoEShape,
    autoregressive_token_bound,
    canvas_bound,
    known_device,
    moe_pass_bytes,
    moe_pass_seconds,
)
from model.block_sampler import BlockSettings, denoise_canvas

# google/diffusiongemma-26B-A4B-it, config.json `text_config` (the keys that set sizes), as quoted
# from the checkpoint by public ports (e.g. an MLX-Swift port's DiffusionGemma configuration test)
# and matching the Gemma 4 26B-A4B text config; the model card gives 25.2B parameters, 3.8B
# active, 30 layers, sliding window 1024, 256K context (huggingface.co/google/diffusiongemma-26B-A4B-it).
# Built with transformers 5.24 these give 25.25B text parameters, 22.84B of them in the experts.
PUBLISHED_TEXT_CONFIG: dict[str, Any] = {
    "hidden_size": 2816,
    "num_hidden_layers": 30,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "num_global_key_value_heads": 2,
    "head_dim": 256,
    "global_head_dim": 512,
    "intermediate_size": 2112,
    "moe_intermediate_size": 704,
    "num_experts": 128,
    "top_k_experts": 8,
    "vocab_size": 262144,
    "sliding_window": 1024,
    "max_position_embeddings": 262144,
    "final_logit_softcapping": 30.0,
    "layer_types": (["sliding_attention"] * 5 + ["full_attention"]) * 5,
}
TINY_TEXT_CONFIG: dict[str, Any] = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "num_global_key_value_heads": 1,
    "head_dim": 16,
    "global_head_dim": 32,
    "intermediate_size": 64,
    "moe_intermediate_size": 32,
    "num_experts": 4,
    "top_k_experts": 2,
    "vocab_size": 512,
    "sliding_window": 16,
    "max_position_embeddings": 4096,
    "final_logit_softcapping": 30.0,
    "layer_types": ["sliding_attention", "full_attention"],
}
SHAPES = {"26b-a4b": PUBLISHED_TEXT_CONFIG, "tiny": TINY_TEXT_CONFIG}


@contextlib.contextmanager
def _parameters_on_meta() -> Iterator[None]:
    """Every parameter a module registers goes to the meta device (no memory, no init cost);
    buffers (rotary frequencies, scales) are made as usual, on the CPU: they are small."""
    register = torch.nn.Module.register_parameter

    def on_meta(module: torch.nn.Module, name: str, param: torch.nn.Parameter | None) -> None:
        if param is not None and param.device.type != "meta":
            param = torch.nn.Parameter(param.to("meta"), requires_grad=False)
        register(module, name, param)

    torch.nn.Module.register_parameter = on_meta  # type: ignore[method-assign]
    try:
        yield
    finally:
        torch.nn.Module.register_parameter = register  # type: ignore[method-assign]


def build_model(
    text_config: dict[str, Any], device: str, dtype: torch.dtype, canvas: int = 256, seed: int = 0, std: float = 0.02
) -> Any:
    """A text-only DiffusionGemmaForBlockDiffusion with random weights of these shapes, made on
    `device`: matrices N(0, std), vectors (norm scales, router scales) ones; tied weights stay tied."""
    from transformers import DiffusionGemmaConfig, DiffusionGemmaForBlockDiffusion

    cfg = DiffusionGemmaConfig(text_config=dict(text_config), canvas_length=canvas, attn_implementation="sdpa")
    with _parameters_on_meta():
        model = DiffusionGemmaForBlockDiffusion(cfg)
    model.model.encoder.vision_tower = torch.nn.Identity()  # text only: nothing reads them
    model.model.encoder.embed_vision = torch.nn.Identity()
    gen = torch.Generator(device=device).manual_seed(seed)
    made: dict[int, torch.nn.Parameter] = {}
    old: list[torch.nn.Parameter] = []  # keeps every id in `made` from being reused mid-walk
    for module in model.modules():
        for name, p in list(module._parameters.items()):
            if p is None:
                continue
            if id(p) not in made:
                t = torch.empty(p.shape, dtype=dtype, device=device)
                t.normal_(0.0, std, generator=gen) if p.dim() > 1 else t.fill_(1.0)
                made[id(p)] = torch.nn.Parameter(t, requires_grad=False)
                old.append(p)
            module._parameters[name] = made[id(p)]
        for name, b in list(module._buffers.items()):
            if b is not None:
                module._buffers[name] = b.to(device)
    return model.eval()


def _runner(model: Any, rows: int, device: str) -> Any:
    """The runner a fill alone gets (model/block_decode.py): our encoder and decoder calls."""
    from model.block_decode import DirectRunner

    return DirectRunner(model, rows, torch.device(device))


def _next_logits(runner: Any, ids: torch.Tensor) -> torch.Tensor:
    """The autoregressive baseline's pass: ids (B, n) appended causally to the runner's cache;
    the softcapped head's logits (B, V) at the last position."""
    n = ids.shape[1]
    positions = torch.arange(runner.length, runner.length + n, device=runner.device)[None]
    out = runner.model.model.encoder(input_ids=ids, cache=runner.cache, position_ids=positions)
    runner.length += n
    cap = runner.model.config.text_config.final_logit_softcapping
    logits = runner.model.lm_head(out.last_hidden_state[:, -1]).float()
    return torch.tanh(logits / cap) * cap


def _timed(fn: Callable[[], Any], device: str) -> tuple[Any, float]:
    """fn's answer and its seconds, the device's queued work included."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    start = time.perf_counter()
    got = fn()
    sync()
    return got, time.perf_counter() - start


def autoregressive_tokens(runner: Any, first: torch.Tensor, n: int) -> torch.Tensor:
    """The baseline: n greedy tokens, one encoder pass each, after `first` (B, 1); the last one."""
    token = first
    for _ in range(n):
        token = _next_logits(runner, token).argmax(dim=-1, keepdim=True)
    return token


def measure(model: Any, rows: int, ns: argparse.Namespace) -> dict[str, Any]:
    """Every timing of one batch size, in seconds, on fresh caches after a warm-up."""
    dev, canvas, vocab = ns.device, ns.canvas, model.config.text_config.vocab_size
    gen = torch.Generator(device=dev).manual_seed(rows)
    prompt = torch.randint(0, vocab, (rows, ns.context), generator=gen, device=dev)
    start = torch.randint(0, vocab, (rows, canvas), generator=gen, device=dev)
    warm = _runner(model, rows, dev)  # kernels chosen, allocator pools grown
    warm.encode(prompt)
    warm.decode(start, warm.decode(start, None))
    autoregressive_tokens(warm, prompt[:, -1:], 2)
    del warm
    runner = _runner(model, rows, dev)
    _, prefill = _timed(lambda: runner.encode(prompt), dev)
    first = runner.decode(start, None)  # the self-conditioning input of the timed passes
    forward = [_timed(lambda f=first: runner.decode(start, f), dev)[1] for _ in range(3)]
    del first  # 4 GB of logits at 16 rows
    canvases: dict[int, list[float]] = {}
    tokens = start
    for steps in ns.steps:
        s = BlockSettings(max_steps=steps, stability_threshold=None, confidence_threshold=None)
        for _ in range(ns.repeats):
            result, seconds = _timed(lambda s=s: denoise_canvas(runner, s, gen), dev)
            assert result.steps == steps, f"{result.steps} steps run of {steps}"
            canvases.setdefault(steps, []).append(seconds)
            tokens = result.tokens
    _, append = _timed(lambda: runner.encode(tokens), dev)
    last = tokens[:, -1:]
    autoregressive_tokens(runner, last, 1)
    _, ar = _timed(lambda: autoregressive_tokens(runner, last, ns.ar_tokens), dev)
    return {
        "prefill_s": prefill,
        "forward_s": statistics.median(forward),
        "canvas_s": {k: statistics.median(v) for k, v in canvases.items()},
        "append_s": append,
        "ar_token_s": ar / ns.ar_tokens,
    }


def _row(rows: int, t: dict[str, Any], ns: argparse.Namespace, m: MoEShape, bound: Device | None) -> dict[str, Any]:
    """A batch size's figures: ms, tokens/s, and where there is a bound, the share of it reached."""
    c, p, bpw = ns.canvas, ns.context, ns.bytes_per_weight
    step = MoEPass(rows, c, p, scored=c, decoder=True)
    row: dict[str, Any] = {
        "batch": rows,
        "prefill_ms": t["prefill_s"] * 1e3,
        "prefill_ms_per_token": t["prefill_s"] * 1e3 / p,
        "decoder_forward_ms": t["forward_s"] * 1e3,
        "canvas_append_ms": t["append_s"] * 1e3,
        "ar_ms_per_token": t["ar_token_s"] * 1e3,
        "ar_tok_s": rows / t["ar_token_s"],
        "decoder_step_gb": moe_pass_bytes(m, step, bpw) / 1e9,
        "canvases": [],
    }
    if bound is not None:
        row["decoder_step_bound_ms"] = moe_pass_seconds(m, bound, step, bpw) * 1e3
        append = MoEPass(rows, c, p, scored=0, decoder=False)
        row["canvas_append_bound_ms"] = moe_pass_seconds(m, bound, append, bpw) * 1e3
        prefill_bound = moe_pass_seconds(m, bound, MoEPass(rows, p, 0, scored=0, decoder=False), bpw)
        row["prefill_share"] = prefill_bound / t["prefill_s"]
        ar_bound = autoregressive_token_bound(m, bound, rows, p + c, bpw)
        row["ar_bound_tok_s"], row["ar_share"] = rows / ar_bound, ar_bound / t["ar_token_s"]
    for steps, seconds in t["canvas_s"].items():
        total = seconds + t["append_s"]
        canvas = {"steps": steps, "step_ms": seconds * 1e3 / steps, "canvas_ms": total * 1e3}
        canvas["tok_s"] = rows * c / total
        canvas["vs_ar"] = canvas["tok_s"] / row["ar_tok_s"]
        if bound is not None:
            limit = canvas_bound(m, bound, rows, c, p, steps, bpw)
            canvas["bound_tok_s"], canvas["share"] = rows * c / limit, limit / total
        row["canvases"].append(canvas)
    return row


def _bound_device(ns: argparse.Namespace) -> Device | None:
    if ns.bandwidth_gbs and ns.peak_tflops:
        return Device(ns.device, ns.bandwidth_gbs * 1e9, ns.peak_tflops * 1e12)
    if ns.device.startswith("cuda") and torch.cuda.is_available():
        return known_device(torch.cuda.get_device_name(torch.device(ns.device)))
    return None


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m model.bench.gemma_decode", description=__doc__.splitlines()[0])
    p.add_argument("--shape", choices=sorted(SHAPES), default="26b-a4b")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batches", default="1,4,16")
    p.add_argument("--steps", default="12,24,48", help="denoising steps per canvas")
    p.add_argument("--context", type=int, default=1024, help="prompt tokens in the cache")
    p.add_argument("--canvas", type=int, default=256)
    p.add_argument("--ar-tokens", type=int, default=32, help="autoregressive tokens timed")
    p.add_argument("--repeats", type=int, default=2, help="canvases per step count (median)")
    p.add_argument("--budget-s", type=float, default=330.0, help="skip batch sizes that would not end in this")
    p.add_argument("--out", type=Path, default=None, help="folder for gemma-bench.json and gemma-bench.md")
    p.add_argument("--bandwidth-gbs", type=float, default=None, help="device memory bandwidth, for the bound")
    p.add_argument("--peak-tflops", type=float, default=None, help="device dense TFLOP/s in this dtype")
    ns = p.parse_args(argv)
    ns.batches = [int(b) for b in ns.batches.split(",") if b]
    ns.steps = [int(s) for s in ns.steps.split(",") if s]
    ns.dtype = torch.bfloat16 if ns.device.startswith("cuda") else torch.float32
    ns.bytes_per_weight = torch.finfo(ns.dtype).bits // 8
    return ns


def _meta(ns: argparse.Namespace, model: Any, m: MoEShape, bound: Device | None, built_s: float) -> dict[str, Any]:
    import transformers

    made = sum(p.numel() for p in model.parameters())
    on_device = {str(p.device) for p in model.parameters()} | {str(b.device) for b in model.buffers()}
    meta: dict[str, Any] = {
        "shape": ns.shape,
        "machine": platform.platform(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "device": ns.device,
        "gpu": torch.cuda.get_device_name(torch.device(ns.device)) if ns.device.startswith("cuda") else None,
        "dtype": str(ns.dtype),
        "attention": model.config.text_config._attn_implementation,
        "experts": model.config.text_config._experts_implementation,
        "parameters": made,
        "parameters_expected": m.parameters,
        "tensors_on": sorted(on_device),
        "build_s": built_s,
        "context": ns.context,
        "canvas": ns.canvas,
        "steps": ns.steps,
        "repeats": ns.repeats,
        "loop": "model/block_sampler.denoise_canvas over model/block_decode.DirectRunner (a fill alone)",
        "bound_device": None if bound is None else vars(bound),
    }
    if ns.device.startswith("cuda"):
        meta["weights_gb"] = torch.cuda.memory_allocated(torch.device(ns.device)) / 1e9
    return meta


def _write(out: Path | None, report: dict[str, Any]) -> None:
    if out is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    (out / "gemma-bench.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "gemma-bench.md").write_text(markdown(report))


def run(ns: argparse.Namespace) -> dict[str, Any]:
    """Build, then every batch size in turn, writing the report after each."""
    deadline = time.monotonic() + ns.budget_s
    m = MoEShape.from_text_config(SHAPES[ns.shape])
    bound = _bound_device(ns)
    model, built_s = _timed(lambda: build_model(SHAPES[ns.shape], ns.device, ns.dtype, ns.canvas), ns.device)
    report: dict[str, Any] = {"meta": _meta(ns, model, m, bound, built_s), "batches": [], "skipped": []}
    print(f"built {report['meta']['parameters'] / 1e9:.2f}B parameters in {built_s:.1f} s on {ns.device}", flush=True)
    last: tuple[int, float] | None = None
    for rows in ns.batches:
        if last is not None and last[1] * rows / last[0] > deadline - time.monotonic():
            report["skipped"].append({"batch": rows, "why": "would not fit the budget"})
            continue
        if ns.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats(torch.device(ns.device))
        began = time.monotonic()
        try:
            with torch.inference_mode():
                row = _row(rows, measure(model, rows, ns), ns, m, bound)
        except torch.OutOfMemoryError as exc:
            report["skipped"].append({"batch": rows, "why": f"out of memory: {exc}"[:300]})
            gc.collect()
            continue
        if ns.device.startswith("cuda"):
            row["peak_memory_gb"] = torch.cuda.max_memory_allocated(torch.device(ns.device)) / 1e9
        row["seconds"] = last_s = time.monotonic() - began
        last = (rows, last_s)
        report["batches"].append(row)
        report["goals"] = goals(report)
        _write(ns.out, report)
        print(markdown({**report, "only": rows}), flush=True)
        gc.collect()
    report["goals"] = goals(report)
    _write(ns.out, report)
    return report


def main(argv: list[str] | None = None) -> int:
    report = run(_parse(argv))
    for line in report["goals"]["lines"]:
        print(line)
    return 0 if report["batches"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
