"""`fillgap bench`: decode throughput of diffusion infilling against an autoregressive decode.

Gaps of several lengths sit between a prefix and a suffix of real held-out code. Each diffusion
configuration fills the gap; the autoregressive baseline (same weights, causal mask, KV cache,
greedy) writes the same number of tokens after the same prefix and never sees the suffix.
Everything is measured in one run, warm, several repeats: median and spread, and the ratio of
each configuration to the baseline. Times are not asserted anywhere; machines are noisy.
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
from model.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint, resolve
from model.train.corpus import collect, split, stdlib_dir
from model.wire.protocol import SamplerSettings
from model.bench.roofline import Device, decode_bound, known_device
from model.sampler import infill
from model.tokenizer import SpecialIds
from model.transformer import DiffusionLM, ModelConfig


def configurations(gap: int) -> dict[str, SamplerSettings]:
    steps = max(1, gap // 4)  # four tokens a step
    return {
        f"diffusion {steps} steps": SamplerSettings(steps=steps, refine_rounds=0),
        f"diffusion {steps} steps + cache": SamplerSettings(steps=steps, refine_rounds=0, dual_cache=True),
        f"diffusion {steps} steps + refine": SamplerSettings(steps=steps, refine_rounds=2),
        "diffusion threshold 0.9": SamplerSettings(steps=gap, refine_rounds=0, threshold=0.9),
        "diffusion threshold 0.9 + cache": SamplerSettings(steps=gap, refine_rounds=0, threshold=0.9, dual_cache=True),
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


def _held_out_tokens(tok: object, need: int) -> list[int]:
    _, held = split(collect(stdlib_dir()))
    ids: list[int] = []
    for f in held:
        ids += tok.encode(f.text)  # type: ignore[attr-defined]
        if len(ids) >= need:
            break
    return ids[:need]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="fillgap bench", description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(DEFAULT_CHECKPOINT))
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
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
    p.add_argument("--bandwidth-gbs", type=float, default=None, help="device memory bandwidth, for the bound")
    p.add_argument("--peak-tflops", type=float, default=None, help="device dense TFLOP/s in this dtype, for the bound")
    ns = p.parse_args(argv)
    if ns.quick:
        ns.gaps, ns.context, ns.repeats = "32,64", 128, 2
    dtype = torch.bfloat16 if ns.device.startswith("cuda") else torch.float32
    model, tok, _ = load_checkpoint(resolve(ns.model), dtype)
    if ns.random_model:  # the weights do not matter for speed; the shapes do
        torch.manual_seed(0)
        model = DiffusionLM(RANDOM_MODELS[ns.random_model]).to(dtype).eval()
        ns.model = f"random {ns.random_model}"
    model.to(ns.device)
    gaps = [int(g) for g in ns.gaps.split(",")]
    tokens = _held_out_tokens(tok, 2 * ns.context + max(gaps))
    rows = run(model, tokens, tok.specials, gaps, ns.context, ns.repeats, ns.device)
    device = _device(ns)
    if device is not None:
        for r in rows:
            bound = decode_bound(
                model.config,
                device,
                r["method"],
                ns.context,
                r["gap"],
                r["forward_passes"],
                bytes_per_weight=2 if dtype == torch.bfloat16 else 4,
            )
            r["bound_tok_s"] = r["gap"] / bound
            r["fraction_of_bound"] = bound / r["median_s"]
    concurrent: list[dict] = []
    if ns.concurrency:
        from model.bench.concurrency import concurrency

        levels = tuple(int(n) for n in ns.concurrency.split(","))
        model_arg = None if ns.model == str(DEFAULT_CHECKPOINT) else ns.model
        concurrent = concurrency(model_arg, ns.device, levels, seconds=4.0 if ns.quick else 30.0)
    print(f"{'gap':>4}  {'method':<36} {'tok/s':>9} {'spread (s)':>17} {'passes':>6} {'x AR':>6}")
    for r in rows:
        spread = f"{r['min_s']:.3f}-{r['max_s']:.3f}"
        print(
            f"{r['gap']:>4}  {r['method']:<36} {r['tok_s']:>9.1f} {spread:>17} {r['forward_passes']:>6} "
            f"{r['vs_ar']:>6.2f}"
        )
    if ns.json:
        meta = {
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
            if device is None
            else {"name": device.name, "bandwidth_bytes_s": device.bandwidth, "flops": device.flops},
            "command": "python -m model.bench.decode " + " ".join(argv if argv is not None else sys.argv[1:]),
        }
        ns.json.write_text(json.dumps({"meta": meta, "rows": rows, "concurrency": concurrent}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
