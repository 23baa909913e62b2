"""`fillgap bench`: decode throughput of diffusion infilling against an autoregressive decode.

Gaps of several lengths sit between a prefix and a suffix of real held-out code. Each diffusion
configuration fills the gap; the autoregressive baseline (same weights, causal mask, KV cache,
greedy) writes the same number of tokens after the same prefix and never sees the suffix.
Everything is measured in one run, warm, several repeats: median and spread, and the ratio of
each configuration to the baseline. Times are not asserted anywhere; machines are noisy.
A folder of the block-diffusion family (DiffusionGemma) is timed through its own loop instead, in
the same rows and JSON (model/bench/gemma_checkpoint.py).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from model.attention import backend_name
from model.bench.autoregressive import greedy_decode
from model.bench.precision import PRECISION_TOKENS, precision
from model.bench.roofline import Device, decode_bound, known_device
from model.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint, resolve
from model.devices import DeviceError, resolve_device
from model.engine import torch_dtype
from model.sampler import infill
from model.tokenizer import CodeTokenizer, SpecialIds
from model.train.corpus import collect, split, stdlib_dir
from model.transformer import DiffusionLM, ModelConfig
from model.wire.options import add_model_arguments
from model.wire.sampling import SamplerSettings, base


def configurations(gap: int) -> dict[str, SamplerSettings]:
    """Fully set (the sampler runs directly here, with no engine to resolve them)."""
    steps = max(1, gap // 4)  # four tokens a step
    return {
        f"diffusion {steps} steps": base(steps=steps, refine_rounds=0),
        f"diffusion {steps} steps + cache": base(steps=steps, refine_rounds=0, dual_cache=True),
        f"diffusion {steps} steps + refine": base(steps=steps, refine_rounds=2),
        "diffusion threshold 0.9": base(steps=gap, refine_rounds=0, threshold=0.9),
        "diffusion threshold 0.9 + cache": base(steps=gap, refine_rounds=0, threshold=0.9, dual_cache=True),
    }


def _timed(fn: Callable[[], int], repeats: int) -> tuple[list[float], int]:
    fn()  # warm-up
    times, passes = [], 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        passes = fn()
        times.append(time.perf_counter() - t0)
    return times, passes


def run(
    model: DiffusionLM,
    tokens: list[int],
    specials: SpecialIds,
    gaps: list[int],
    context: int,
    repeats: int,
    device: str,
) -> list[dict]:
    rows = []
    for gap_len in gaps:
        prefix = torch.tensor([tokens[:context]], device=device)
        suffix = torch.tensor([tokens[context + gap_len : 2 * context + gap_len]], device=device)
        ids = torch.cat([prefix, torch.full((1, gap_len), specials.mask, device=device), suffix], dim=1)
        gap = torch.zeros(ids.shape, dtype=torch.bool, device=device)
        gap[0, context : context + gap_len] = True
        ar_times, _ = _timed(lambda p=prefix, n=gap_len: greedy_decode(model, p, n)[1], repeats)
        ar_median = statistics.median(ar_times)
        rows.append(_row("autoregressive (KV cache, greedy)", gap_len, ar_times, gap_len, ar_median))
        for name, s in configurations(gap_len).items():
            times, passes = _timed(lambda s=s, x=ids, g=gap: infill(model, x, g, s, specials).forward_passes, repeats)
            rows.append(_row(name, gap_len, times, passes, ar_median))
    return rows


def _row(name: str, gap: int, times: list[float], passes: int, ar_median: float) -> dict:
    median = statistics.median(times)
    return {
        "gap": gap,
        "method": name,
        "tok_s": gap / median,
        "median_s": median,
        "min_s": min(times),
        "max_s": max(times),
        "forward_passes": passes,
        "vs_ar": ar_median / median,
    }


# Shapes of the Qwen2 family at the sizes a user would run (Qwen2.5-0.5B is Open-dCoder's base);
# "tiny" is for checking the code path on a CPU.
RANDOM_MODELS = {
    "tiny": ModelConfig(
        vocab_size=8192,
        hidden_size=128,
        intermediate_size=344,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
    ),
    "0.5b": ModelConfig(
        vocab_size=151936,
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        max_position_embeddings=32768,
        rope_theta=1_000_000.0,
    ),
}


def _device(ns: argparse.Namespace) -> Device | None:
    """The device whose roofline bounds each row: given by flags, or known by name (CUDA)."""
    if ns.bandwidth_gbs and ns.peak_tflops:
        return Device(ns.device, ns.bandwidth_gbs * 1e9, ns.peak_tflops * 1e12)
    if ns.device.startswith("cuda") and torch.cuda.is_available():
        return known_device(torch.cuda.get_device_name(torch.device(ns.device)))
    return None


def _held_out_tokens(tok: CodeTokenizer, need: int) -> list[int]:
    _, held = split(collect(stdlib_dir()))
    ids: list[int] = []
    for f in held:
        ids += tok.encode(f.text)
        if len(ids) >= need:
            break
    return ids[:need]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="fillgap bench", description=__doc__.splitlines()[0])
    add_model_arguments(p)
    p.add_argument("--gaps", default="32,64,128,256")
    p.add_argument("--context", type=int, default=512, help="prefix and suffix tokens each")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="gaps 32,64; context 128; 2 repeats (under a minute)")
    p.add_argument("--json", type=Path, default=None, help="write results here")
    p.add_argument(
        "--concurrency",
        default=None,
        help="also fills/s and latency with this many concurrent documents on one worker, e.g. 1,4,16",
    )
    p.add_argument(
        "--random-model",
        choices=sorted(RANDOM_MODELS),
        default=None,
        help="time a random-weight Qwen2-family model of this size instead of a checkpoint (same tokenizer)",
    )
    p.add_argument(
        "--steps", default=None, help="block diffusion (DiffusionGemma) only: steps per canvas (12,24,48; --quick 12)"
    )
    p.add_argument("--bandwidth-gbs", type=float, default=None, help="device memory bandwidth, for the bound")
    p.add_argument("--peak-tflops", type=float, default=None, help="device dense TFLOP/s in this dtype, for the bound")
    p.add_argument(
        "--precision",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time fp32 against bf16 (model/bench/precision.py)",
    )
    ns = p.parse_args(argv)
    try:
        ns.device = resolve_device(ns.device)  # auto (the default): where a benchmark runs fastest
    except DeviceError as exc:
        p.error(str(exc))
    ns.model = ns.model or str(DEFAULT_CHECKPOINT)
    if ns.quick:
        ns.gaps, ns.context, ns.repeats = "32,64", 128, 2
    return ns


def _load_model(ns: argparse.Namespace) -> tuple[DiffusionLM, CodeTokenizer, torch.dtype]:
    """The checkpoint's model and tokenizer on ns.device, or a random-weight model of a size in
    RANDOM_MODELS with the checkpoint's tokenizer (ns.model then names it)."""
    if ns.threads:
        torch.set_num_threads(ns.threads)
    dtype = torch_dtype("auto", ns.device, cpu_bf16_ok=True)  # what the worker runs it in
    model, tok, _ = load_checkpoint(resolve(ns.model), dtype, ns.device)
    if ns.random_model:  # the weights do not matter for speed; the shapes do
        torch.manual_seed(0)
        with torch.device(ns.device):  # initialised where it runs: seconds on a GPU, not minutes
            model = DiffusionLM(RANDOM_MODELS[ns.random_model]).to(dtype).eval()
        ns.model = f"random {ns.random_model}"
    return model, tok, dtype


def _add_bounds(rows: list[dict], cfg: ModelConfig, device: Device, context: int, dtype: torch.dtype) -> None:
    """Each row's roofline bound (tokens/s) and the share of it the row reached."""
    for r in rows:
        bound = decode_bound(
            cfg,
            device,
            r["method"],
            context,
            r["gap"],
            r["forward_passes"],
            bytes_per_weight=2 if dtype == torch.bfloat16 else 4,
        )
        r["bound_tok_s"] = r["gap"] / bound
        r["fraction_of_bound"] = bound / r["median_s"]


def _concurrent(ns: argparse.Namespace) -> list[dict]:
    if not ns.concurrency:
        return []
    from model.bench.concurrency import concurrency

    levels = tuple(int(n) for n in ns.concurrency.split(","))
    model_arg = None if ns.model == str(DEFAULT_CHECKPOINT) else ns.model
    return concurrency(model_arg, ns.device, levels, seconds=4.0 if ns.quick else 30.0, threads=ns.threads or 1)


def _precision(ns: argparse.Namespace, model: DiffusionLM, tokens: list[int], specials: SpecialIds) -> dict | None:
    """fp32 against bf16 (model/bench/precision.py), unless --no-precision."""
    if not ns.precision:
        return None
    folder = None if ns.random_model else resolve(ns.model)
    return precision(model, tokens, specials, ns.device, ns.repeats, folder, quick=ns.quick)


def _print_precision(result: dict) -> None:
    flags = ", ".join(result["cpu_bf16_flags"]) or "none"
    print(f"\nfp32 vs bf16 on {result['device']} (CPU bf16 units: {flags}; auto picks {result['auto_dtype']})")
    for r in result["rows"]:
        parity = ", ".join(f"{k} {r[k]:.3f}" for k in ("top1_agree", "max_logp_diff", "same_text") if k in r)
        print(
            f"  {r['what']:<34} fp32 {r['fp32_ms']:>8.1f} ms  bf16 {r['bf16_ms']:>8.1f} ms  "
            f"bf16 {r['bf16_speedup']:.2f}x  {parity}"
        )


def _print_rows(rows: list[dict]) -> None:
    print(f"{'gap':>4}  {'method':<36} {'tok/s':>9} {'spread (s)':>17} {'passes':>6} {'x AR':>6}")
    for r in rows:
        spread = f"{r['min_s']:.3f}-{r['max_s']:.3f}"
        print(
            f"{r['gap']:>4}  {r['method']:<36} {r['tok_s']:>9.1f} {spread:>17} {r['forward_passes']:>6} "
            f"{r['vs_ar']:>6.2f}"
        )


def _meta(
    ns: argparse.Namespace, model: DiffusionLM, dtype: torch.dtype, bound: Device | None, argv: list[str]
) -> dict:
    return {
        "machine": platform.platform(),
        "processor": platform.processor(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": ns.device,
        "backend": backend_name(ns.device, dtype),
        "model": ns.model,
        "parameters": model.num_parameters(),
        "context": ns.context,
        "repeats": ns.repeats,
        "bound_device": None
        if bound is None
        else {"name": bound.name, "bandwidth_bytes_s": bound.bandwidth, "flops": bound.flops},
        "command": "python -m model.bench.decode " + " ".join(argv),
    }


def main(argv: list[str] | None = None) -> int:
    ns = _parse(argv)
    from model.bench.gemma_checkpoint import bench_folder, is_block_diffusion  # it imports this module

    if is_block_diffusion(ns.model):  # DiffusionGemma: its own loop, the same rows (model/bench/gemma_checkpoint.py)
        return bench_folder(ns, argv if argv is not None else sys.argv[1:])
    model, tok, dtype = _load_model(ns)
    gaps = [int(g) for g in ns.gaps.split(",")]
    tokens = _held_out_tokens(tok, max(2 * ns.context + max(gaps), PRECISION_TOKENS))
    rows = run(model, tokens, tok.specials, gaps, ns.context, ns.repeats, ns.device)
    dtypes = _precision(ns, model, tokens, tok.specials)
    bound = _device(ns)
    if bound is not None:
        _add_bounds(rows, model.config, bound, ns.context, dtype)
    concurrent = _concurrent(ns)
    _print_rows(rows)
    if dtypes:
        _print_precision(dtypes)
    if ns.json:
        meta = _meta(ns, model, dtype, bound, argv if argv is not None else sys.argv[1:])
        result = {"meta": meta, "rows": rows, "concurrency": concurrent, "precision": dtypes}
        ns.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
