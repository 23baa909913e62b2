"""Training speed: tokens/s of `fillgap train`'s real step for each precision, compile, AdamW and batch choice.

Each row builds a fresh model of one size (5M = the shipped shape, 16M, 34M), then runs
model.train.loop.optimisation_step, the loop's own step, on the diffusion objective
(model.train.objective.make_batch over a TokenStream of real stdlib files): warm-up steps first
(a compiled row's first three: it compiles, then recompiles with dynamic shapes, since
the masked count varies; reported apart), then timed steps. tokens/s counts a
step's batch x seq tokens over its whole wall time, data included. `--profile` runs
torch.profiler over a few steps of the fastest fp32 row at 5M and 16M and says where the time goes.

On a CPU without bf16 units (no AMX, no AVX-512 BF16: model.cpu_features) oneDNN emulates bf16 and
a step runs many times slower, so there the bf16 rows take one timed step at the smallest size only
and carry the CPU's flag state: the table says what this CPU does, not what AMX would.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from model.checkpoint import DEFAULT_CHECKPOINT
from model.cpu_features import BF16_FLAGS, cpu_bf16, cpu_flags
from model.tokenizer import CodeTokenizer
from model.train.corpus import collect, stdlib_dir
from model.train.loop import Run, build_optimizer, optimisation_step
from model.train.objective import TokenStream, TrainConfig, make_batch
from model.train.precision import resolve
from model.transformer import DiffusionLM, ModelConfig

DATA_BYTES = 400_000  # of stdlib files: enough distinct windows for a few steps
VOCAB = 8192  # the shipped tokenizer's: the profile tells the output layer's matmuls by it
PIECE_S = 2.5 * 3600  # a training piece: compile time is paid once per piece (per process)


@dataclass(frozen=True)
class Size:
    name: str
    hidden: int
    ffn: int
    layers: int
    heads: int
    kv_heads: int

    def config(self, seq_len: int, vocab: int) -> ModelConfig:
        return ModelConfig(
            vocab_size=vocab,
            hidden_size=self.hidden,
            intermediate_size=self.ffn,
            num_hidden_layers=self.layers,
            num_attention_heads=self.heads,
            num_key_value_heads=self.kv_heads,
            max_position_embeddings=max(512, seq_len * 2),
            shift_logits=True,  # as every run with an AR warm start
        )


SIZES = {
    "5M": Size("5M", 256, 688, 4, 4, 2),  # the shipped model's shape
    "16M": Size("16M", 384, 1024, 8, 6, 2),
    "34M": Size("34M", 512, 1376, 10, 8, 4),
}


@dataclass(frozen=True)
class Case:
    size: str
    precision: str = "fp32"
    batch: int = 8
    seq: int = 512
    compile: bool = False
    fused: bool = False
    warmup: int = 1
    timed: int = 3

    @property
    def label(self) -> str:
        extras = [x for x, on in (("compile", self.compile), ("fused AdamW", self.fused)) if on]
        return " + ".join([self.precision, *extras])


def cases(bf16_units: bool, quick: bool) -> list[Case]:
    """The rows: every option at 5M, the ones that could change the choice at 16M, fp32 at 34M.

    Steps take seconds (5M) to tens of seconds (34M) on two cores, so the larger sizes time one
    step after their warm-up. Where bf16 is emulated its rows run one 1x512 step against an fp32
    row of that shape: at 8x512 each would take a minute to say the same thing."""
    one: dict[str, Any] = {"timed": 1}
    bf16: dict[str, Any] = {} if bf16_units else {"batch": 1, "timed": 1}
    rows = [
        Case("5M", timed=2),
        Case("5M", fused=True, timed=2),
        Case("5M", batch=16, seq=256, timed=2),  # TrainConfig's default shape: the same 4096 tokens
        Case("5M", batch=16, seq=512, timed=2),
        Case("5M", batch=32, seq=256, timed=2),
        Case("5M", compile=True, warmup=3, timed=2),
        *([] if bf16_units else [Case("5M", **bf16)]),  # the fp32 row the bf16 rows compare with
        Case("5M", "bf16-autocast", **bf16),
        Case("5M", "bf16-weights", **bf16),
        Case("16M", **one),
        Case("16M", fused=True, **one),
        Case("16M", compile=True, warmup=3, **one),
        Case("34M", **one),
    ]
    if bf16_units:
        rows += [Case(s, p, **one) for s in ("16M", "34M") for p in ("bf16-autocast", "bf16-weights")]
    if quick:
        rows = [replace(c, timed=1) for c in rows if c.size == "5M" and c.batch * c.seq <= 4096]
    return rows


def corpus(tok: CodeTokenizer) -> TokenStream:
    files = collect(stdlib_dir(), cap_bytes=DATA_BYTES)
    return TokenStream(files, tok)


def make_run(case: Case, tok: CodeTokenizer, stream: TokenStream) -> Run:
    """A loop.Run as `fillgap train` builds one, on the diffusion objective (no AR phase)."""
    torch.manual_seed(0)
    cfg = TrainConfig(seq_len=case.seq, batch_size=case.batch, steps=10_000, ar_fraction=0.0)
    model = DiffusionLM(SIZES[case.size].config(case.seq, tok.vocab_size))
    if case.compile:
        torch._dynamo.reset()  # each compiled row pays its own compile
        model.compile()
    opt = build_optimizer(model, cfg, case.fused)
    model.train()
    run = Run(Path("."), torch.device("cpu"), cfg, tok, model, opt, stream, stream, {})
    run.precision = case.precision
    return run


def measure(case: Case, tok: CodeTokenizer, stream: TokenStream) -> dict[str, Any]:
    run = make_run(case, tok, stream)
    rng = random.Random(0)
    step = 1000  # past warm-up: the lr is of no consequence here
    warm = []
    for _ in range(case.warmup):
        t0 = time.perf_counter()
        optimisation_step(run, step, rng)
        warm.append(time.perf_counter() - t0)
        step += 1
    times = []
    for _ in range(case.timed):
        t0 = time.perf_counter()
        loss, tokens = optimisation_step(run, step, rng)
        times.append(time.perf_counter() - t0)
        step += 1
    total = sum(times)
    row: dict[str, Any] = {
        **asdict(case),
        "label": case.label,
        "params": run.model.num_parameters(),
        "tokens_per_step": tokens,
        "step_s": round(statistics.median(times), 3),
        "tok_s": round(tokens * len(times) / total, 1),
        "loss": round(float(loss), 3),
    }
    if case.compile and warm:
        row["warmup_s"] = round(sum(warm), 1)  # the compiles (the masked count varies: a dynamic recompile)
    if case.precision != "fp32" and not cpu_bf16():
        row["cpu"] = "no bf16 units (emulated)"
    return row


def with_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row against the eager fp32 row of its size and shape; a compiled row also over a
    training piece, its compile paid once."""

    def key(r: dict[str, Any]) -> tuple[str, int, int]:
        return r["size"], r["batch"], r["seq"]

    base = {key(r): r["tok_s"] for r in rows if r["label"] == "fp32"}
    for r in rows:
        if key(r) not in base:
            continue
        r["vs_fp32"] = round(r["tok_s"] / base[key(r)], 2)
        if "warmup_s" in r:
            compile_s = max(0.0, r["warmup_s"] - r["warmup"] * r["step_s"])
            r["compile_s"] = round(compile_s, 1)
            r["piece_vs_fp32"] = round((PIECE_S - compile_s) / PIECE_S * r["vs_fp32"], 3)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'size':>4} {'params':>6} {'config':<28} {'batch':>7} {'steps':>5} {'s/step':>7} {'tok/s':>7} {'x fp32':>6}"
    )
    head += "  note"
    lines = [head, "-" * len(head)]
    for r in rows:
        note = []
        if "compile_s" in r:
            note.append(f"compile {r['compile_s']:.0f} s; over a 2.5 h piece x{r['piece_vs_fp32']:.3f}")
        if "cpu" in r:
            note.append(r["cpu"])
        ratio = f"{r['vs_fp32']:.2f}" if "vs_fp32" in r else "-"
        lines.append(
            f"{r['size']:>4} {r['params'] / 1e6:>5.1f}M {r['label']:<28} {r['batch']:>3}x{r['seq']:<3}"
            f"{r['timed']:>5} {r['step_s']:>7.2f} {r['tok_s']:>7.0f} {ratio:>6}  {'; '.join(note)}"
        )
    return "\n".join(lines)


def adamw_alone(size: str, seq: int = 512, reps: int = 10) -> dict[str, Any]:
    """ms per AdamW update of a size's parameters (random gradients, clipping included) for each
    implementation: the step rows' noise is larger than the update's whole share."""
    model = DiffusionLM(SIZES[size].config(seq, VOCAB))
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 1e-3
    out: dict[str, Any] = {"size": size}
    for name, kwargs in (("loop", {"foreach": False}), ("foreach", {"foreach": True}), ("fused", {"fused": True})):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, **kwargs)
        times = []
        for i in range(reps + 2):
            t0 = time.perf_counter()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            if i >= 2:
                times.append(time.perf_counter() - t0)
        out[f"{name}_ms"] = round(1000 * statistics.median(times), 1)
    return out


# --- profile -------------------------------------------------------------------------------------


def category(name: str, shapes: list[Any], under_optimizer: bool) -> str:
    """Which part of a step an op's self time belongs to."""
    n = name.lower()
    if n.startswith("autograd::engine"):
        return "autograd engine (backward bookkeeping)"
    if under_optimizer or "adam" in n:
        return "optimizer (AdamW)"
    if "foreach_norm" in n or "foreach_mul" in n or "vector_norm" in n or "clip" in n:  # RMSNorm uses none
        return "grad clipping"
    if "attention" in n or "sdpa" in n:
        return "attention (SDPA)"
    if "log_softmax" in n or "nll_loss" in n or "cross_entropy" in n:
        return "softmax/cross-entropy (vocab)"
    if "embedding" in n:
        return "embedding"
    if n.removeprefix("aten::") in {"mm", "addmm", "bmm", "matmul", "linear", "baddbmm"}:
        vocab = any(isinstance(s, list) and VOCAB in s for s in shapes)
        return "matmul: lm_head (8192 vocab)" if vocab else "matmul: layers"
    return "norms/elementwise/copies"


def _under(evt: Any, prefix: str) -> bool:
    p = evt.cpu_parent
    while p is not None:
        if p.name.startswith(prefix):
            return True
        p = p.cpu_parent
    return False


def profile(case: Case, tok: CodeTokenizer, stream: TokenStream, steps: int = 2) -> dict[str, Any]:
    """Self CPU time by part of a step over `steps` profiled steps, with the data's own time."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    run = make_run(case, tok, stream)
    rng = random.Random(0)
    optimisation_step(run, 1000, rng)  # warm-up
    with torch_profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        t0 = time.perf_counter()
        for i in range(steps):
            optimisation_step(run, 1001 + i, rng)
        wall = (time.perf_counter() - t0) / steps
    parts: dict[str, float] = defaultdict(float)
    ops: dict[str, float] = defaultdict(float)
    for evt in prof.events():
        if evt.self_cpu_time_total <= 0:
            continue
        us = evt.self_cpu_time_total / steps
        parts[category(evt.name, evt.input_shapes or [], _under(evt, "Optimizer.step"))] += us
        ops[evt.name] += us
    t0 = time.perf_counter()
    for _ in range(5):
        make_batch(stream, run.cfg, tok.specials, rng)
    data_s = (time.perf_counter() - t0) / 5
    ops_s = sum(parts.values()) / 1e6
    summary = {k: round(v / 1e6, 3) for k, v in sorted(parts.items(), key=lambda kv: -kv[1])}
    return {
        "case": asdict(case),
        "label": case.label,
        "step_s": round(wall, 3),  # under the profiler: a little slower than the table's
        "op_self_s": round(ops_s, 3),
        "data_s": round(data_s, 3),  # make_batch alone (Python), timed apart
        "other_s": round(max(0.0, wall - ops_s - data_s), 3),  # Python, autograd bookkeeping, dispatch
        "parts_s": summary,
        "top_ops_s": {k: round(v / 1e6, 3) for k, v in sorted(ops.items(), key=lambda kv: -kv[1])[:12]},
    }


def profile_text(p: dict[str, Any]) -> str:
    lines = [
        f"profile {p['case']['size']} {p['label']} {p['case']['batch']}x{p['case']['seq']}: {p['step_s']:.2f} s/step"
    ]
    for name, s in [*p["parts_s"].items(), ("data (make_batch, Python)", p["data_s"]), ("other", p["other_s"])]:
        lines.append(f"  {name:<32} {s:7.3f} s  {100 * s / p['step_s']:5.1f}%")
    lines.append(
        "  top ops by self CPU time: " + ", ".join(f"{k} {v:.3f}" for k, v in list(p["top_ops_s"].items())[:8])
    )
    return "\n".join(lines)


def fastest(rows: list[dict[str, Any]], size: str) -> Case:
    """The size's fastest eager row (a compiled graph hides the ops a profile should show)."""
    # a batch of as many tokens as the vocabulary would make every matmul look like the output layer's
    eager = [r for r in rows if r["size"] == size and not r["compile"] and r["batch"] * r["seq"] != VOCAB]
    if not eager:
        return Case(size, timed=2)
    best = max(eager, key=lambda r: r["tok_s"])
    return Case(**{k: v for k, v in best.items() if k in Case.__dataclass_fields__})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model.bench.train_speed", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, help="write the rows (and profile) as JSON here")
    p.add_argument("--sizes", default="5M,16M,34M", help="comma-separated, of " + ", ".join(SIZES))
    p.add_argument("--quick", action="store_true", help="5M only, one timed step each (a smoke run)")
    p.add_argument("--profile", action="store_true", help="also profile the fastest fp32 row at 5M and 16M")
    p.add_argument("--no-table", action="store_true", help="with --profile: profile only")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--only", help="only the rows with these labels, comma-separated (e.g. 'fp32,fp32 + compile')")
    ns = p.parse_args(argv)
    torch.set_num_threads(ns.threads)
    flags = cpu_flags()
    host = {
        "cpu": platform.processor() or platform.machine(),
        "threads": ns.threads,
        "torch": torch.__version__,
        "bf16_units": cpu_bf16(),
        "bf16_flags": sorted(flags & BF16_FLAGS),
        "avx512f": "avx512f" in flags,
        "auto_precision_cpu": resolve("auto", torch.device("cpu")),
        "load_avg": Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").is_file() else None,
    }
    print(json.dumps(host), flush=True)
    tok = CodeTokenizer.from_file(DEFAULT_CHECKPOINT / "tokenizer.json")
    stream = corpus(tok)
    sizes = ns.sizes.split(",")
    rows: list[dict[str, Any]] = []
    if not ns.no_table:
        for case in cases(cpu_bf16(), ns.quick):
            if case.size in sizes and (not ns.only or case.label in ns.only.split(",")):
                rows.append(measure(case, tok, stream))
                print(json.dumps(rows[-1]), flush=True)
        rows = with_ratios(rows)
        print(table(rows))
    adamw = [adamw_alone(s) for s in sizes] if not ns.no_table else []
    for a in adamw:
        impls = ", ".join(f"{k} {a[k + '_ms']} ms" for k in ("loop", "foreach", "fused"))
        print(f"AdamW + clipping alone, {a['size']}: {impls}")
    profiles = []
    if ns.profile:
        for size in [s for s in ("5M", "16M") if s in sizes]:
            profiles.append(profile(fastest(rows, size), tok, stream))
            print(profile_text(profiles[-1]), flush=True)
    if ns.out:
        ns.out.parent.mkdir(parents=True, exist_ok=True)
        ns.out.write_text(
            json.dumps({"host": host, "rows": rows, "adamw": adamw, "profiles": profiles}, indent=1) + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
