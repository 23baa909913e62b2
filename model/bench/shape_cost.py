"""What a bigger model would cost per forward pass, before training one: the shipped model's shape
and wider or deeper ones, random weights, at the row shapes a typing fill and an invoked fill run,
timed in one run and given as ratios to the shipped shape (machines are noisy; ratios hold).

A typing fill's latency is mostly its passes, so the shipped model's measured typing p50 times a
shape's ratio is what that shape would cost as you type (before any change in how often it needs
repair). `python -m model.bench.shape_cost --json runs/shape-cost.json`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from model.checkpoint import DEFAULT_CHECKPOINT
from model.transformer import DiffusionLM, ModelConfig

ROWS = ((1, 128), (1, 320), (1, 512), (3, 512))  # (rows, tokens): a typing window .. an invoked fill's budgets


def shapes(base: ModelConfig) -> dict[str, ModelConfig]:
    """The shipped shape, two wider ones (64-wide heads) and a deeper one."""
    return {
        "shipped": base,
        "hidden 320": replace(
            base, hidden_size=320, intermediate_size=864, num_attention_heads=5, num_key_value_heads=1
        ),
        "hidden 384": replace(
            base, hidden_size=384, intermediate_size=1024, num_attention_heads=6, num_key_value_heads=2
        ),
        "12 layers": replace(base, num_hidden_layers=12),
    }


def time_pass(model: DiffusionLM, rows: int, tokens: int, repeats: int) -> float:
    device = next(model.parameters()).device
    ids = torch.randint(4, model.config.vocab_size, (rows, tokens), device=device)
    with torch.no_grad():
        for _ in range(3):
            model(ids)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(ids)
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def run(dtype: torch.dtype, repeats: int) -> dict[str, Any]:
    base = ModelConfig.from_dict(json.loads((Path(DEFAULT_CHECKPOINT) / "config.json").read_text()))
    results: dict[str, Any] = {}
    for name, cfg in shapes(base).items():
        model = DiffusionLM(cfg).to(dtype).eval()
        row: dict[str, Any] = {"parameters": sum(p.numel() for p in model.parameters()), "config": asdict(cfg)}
        row["ms"] = {f"{r}x{t}": round(time_pass(model, r, t, repeats), 2) for r, t in ROWS}
        results[name] = row
    shipped = results["shipped"]["ms"]
    for row in results.values():
        row["vs_shipped"] = {k: round(v / shipped[k], 2) for k, v in row["ms"].items()}
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model.bench.shape_cost", description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dtype", choices=("bfloat16", "float32"), default="bfloat16")
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--json", type=Path, default=None)
    ns = p.parse_args(argv)
    torch.set_num_threads(ns.threads)
    results = run(getattr(torch, ns.dtype), ns.repeats)
    for name, row in results.items():
        ratios = ", ".join(f"{k} {v:.2f}x" for k, v in row["vs_shipped"].items())
        print(f"{name:<12} {row['parameters'] / 1e6:6.2f}M  {ratios}")
    if ns.json:
        command = "python -m model.bench.shape_cost " + " ".join(argv if argv is not None else sys.argv[1:])
        ns.json.write_text(
            json.dumps({"command": command, "threads": ns.threads, "dtype": ns.dtype, **results}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
