"""`fillgap bench`: every speed and memory figure in one run, one JSON file and one chart.

1. Decode throughput and concurrency, measured by `python -m model.bench.decode` in a child process
   (torch lives there; on a GPU box that module runs alone with only torch and friends). It picks
   the loop by the folder's family: a DiffusionGemma folder is timed through the block-diffusion
   loop, in the same rows (model/bench/gemma_checkpoint.py).
2. End-to-end latency and memory through a real LSP client (lsp/bench/e2e.py), on `--model` when
   given (else the shipped model).
3. A team's cluster under sustained load: fills/s and p50/p95 against 1 and 2 Ray Serve replicas
   with the same threads in all, from a second process (`python -m model.bench.cluster_load`, in a
   child: it starts a loopback-only Ray cluster); `--cluster-seconds 0` leaves it out.

The table puts each figure beside its target. No time is asserted anywhere: `--quick` (under a
minute here) runs in `make test` and only the structure of its output is checked.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from lsp.bench.e2e import FULL, QUICK, run_sync
from model.wire.options import add_model_arguments

TARGETS = {
    "typing_p50_ms": 150.0,
    "typing_p95_ms": 400.0,
    "invoked_p50_ms": 1000.0,
    "first_suggestion_ms": 5000.0,
    "server_idle_rss_mb": 80.0,
    "gpu_diffusion_vs_ar_256": 4.0,
}

# flags the decode child takes as they are (None: unset, its own default)
DECODE_FLAGS = "model device gaps context repeats steps random_model bandwidth_gbs peak_tflops".split()


def decode(ns: argparse.Namespace) -> dict[str, Any]:
    """model.bench.decode's rows (diffusion vs AR per gap) and concurrency levels, from a child process."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "decode.json"
        cmd = [sys.executable, "-m", "model.bench.decode", "--json", str(out), "--concurrency", ns.concurrency]
        if ns.quick:
            cmd.append("--quick")
        for flag in DECODE_FLAGS:
            value = getattr(ns, flag)
            if value is not None:
                cmd += [f"--{flag.replace('_', '-')}", str(value)]
        subprocess.run(cmd, check=True)
        return json.loads(out.read_text())


def cluster(seconds: float) -> dict[str, Any]:
    """model.bench.cluster_load's layouts (1 replica, then 2, same threads), from a child process."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cluster.json"
        cmd = [sys.executable, "-m", "model.bench.cluster_load", "--seconds", str(seconds), "--json", str(out)]
        subprocess.run(cmd, check=True)
        return json.loads(out.read_text())


def cluster_lines(result: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    if not result:
        return []
    lines = []
    for row in result["layouts"]:
        layout = f"{row['replicas']} replica(s) x {row['threads_per_replica']} thread(s)"
        name = f"cluster, {layout}, {result['clients']} clients"
        p95 = "-" if row["p95_ms"] is None else f"{row['p95_ms']:.0f}"
        spread = "/".join(str(n) for n in row["served_per_replica"].values())
        lines.append((name, f"{row['fills_s']:.2f} fills/s, p95 {p95} ms, per replica {spread}", "-"))
    return lines


def precision_lines(dtypes: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    """fp32 against bf16 (model/bench/precision.py): bf16's speed-up per row, with the CPU's bf16
    units beside it, since they decide what `--dtype auto` picks."""
    if not dtypes:
        return []
    units = ", ".join(dtypes["cpu_bf16_flags"]) or "none"
    where = f"- (auto on {dtypes['device']}: {dtypes['auto_dtype']}; CPU bf16 units: {units})"
    lines = []
    for r in dtypes["rows"]:
        agree = f", top-1 {r['top1_agree']:.1%}" if "top1_agree" in r else ""
        got = f"{r['bf16_speedup']:.2f}x ({r['fp32_ms']:.0f} -> {r['bf16_ms']:.0f} ms{agree})"
        lines.append((f"bf16 vs fp32: {r['what']}", got, where))
    return lines


def summary(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(figure, measured, target) rows for the terminal."""
    lines: list[tuple[str, str, str]] = []
    rows = result.get("decode", {}).get("rows", [])
    if rows:
        longest = max(r["gap"] for r in rows)
        best = max(
            (r for r in rows if r["gap"] == longest and r["method"].startswith("diffusion")), key=lambda r: r["vs_ar"]
        )
        lines.append(
            (
                f"diffusion/AR at {longest}-token gap ({best['method']})",
                f"{best['vs_ar']:.2f}x",
                ">= 4x on a GPU at 256",
            )
        )
        for r in rows:
            if "fraction_of_bound" in r and r["gap"] == longest:
                lines.append((f"{r['method']}: share of the roofline bound", f"{r['fraction_of_bound']:.1%}", "-"))
    lines += precision_lines(result.get("decode", {}).get("precision"))
    lines += cluster_lines(result.get("cluster"))
    for level in result.get("decode", {}).get("concurrency", []):
        name = f"{level['documents']} concurrent documents ({level['worker']}, {level['rows_per_pass']} rows/pass)"
        p95 = "-" if level["p95_ms"] is None else f"{level['p95_ms']:.0f}"  # None: no fill ended in the window
        lines.append((name, f"{level['fills_s']:.2f} fills/s, p95 {p95} ms", "-"))
    e2e = result.get("lsp")
    if e2e:
        t, i, c, m = e2e["typing"], e2e["invoked"], e2e["cold_start"], e2e["memory"]
        d = e2e.get("typing_with_debounce", {})
        lines += [
            (
                f"typing, after the debounce, {t.get('n')} events: p50 / p95 / p99 (ms)",
                f"{t.get('p50_ms')} / {t.get('p95_ms')} / {t.get('p99_ms')}",
                "p50 <= 150, p95 <= 400",
            ),
            ("typing: share of those events offered a fill", _share(t), "-"),
            (
                f"typing, with the {t.get('debounce_ms')} ms debounce: p50 / p95 (ms)",
                f"{d.get('p50_ms')} / {d.get('p95_ms')}",
                "-",
            ),
            (
                "invoked fill: p50 / p95 / p99 (ms)",
                f"{i.get('p50_ms')} / {i.get('p95_ms')} / {i.get('p99_ms')}",
                "p50 <= 1000",
            ),
            ("invoked: share of fills offered", _share(i), "-"),
            ("cold start to first suggestion (ms)", f"{c['first_suggestion_ms']}", "<= 5000"),
            ("server RSS idle / peak (MB)", f"{m['server_idle_rss_mb']} / {m['server_peak_rss_mb']}", "idle <= 80"),
            ("worker RSS / peak (MB)", f"{m['worker_rss_mb']} / {m['worker_peak_rss_mb']}", "-"),
        ]
    return lines


def _share(figures: dict[str, Any]) -> str:
    """`offered` of `n` as a share: latency means little without how often it bought a fill."""
    n, offered = figures.get("n") or 0, figures.get("offered", 0)
    return f"{offered}/{n} ({offered / n:.0%})" if n else "-"


def chart(result: dict[str, Any], png: Path) -> bool:
    """Decode tok/s by gap per method, and the latency percentiles; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    rows = result.get("decode", {}).get("rows", [])
    for method in dict.fromkeys(
        r["method"].split(" steps")[0] if "steps" in r["method"] else r["method"] for r in rows
    ):
        mine = [r for r in rows if r["method"].startswith(method)]
        left.plot([r["gap"] for r in mine], [r["tok_s"] for r in mine], marker="o", label=method)
    left.set(xlabel="gap (tokens)", ylabel="tokens/s", title="decode throughput", xscale="log", yscale="log")
    left.legend(fontsize=7)
    e2e = result.get("lsp") or {}
    names = [k for k in ("typing", "invoked") if e2e.get(k, {}).get("n")]
    for j, q in enumerate(("p50_ms", "p95_ms", "p99_ms")):
        right.bar([x + j * 0.25 for x in range(len(names))], [e2e[k][q] for k in names], width=0.25, label=q)
    right.axhline(TARGETS["typing_p50_ms"], color="gray", linestyle="--", linewidth=0.8)
    right.set_xticks([x + 0.25 for x in range(len(names))], names)
    right.set(ylabel="ms", title="inline completion latency (through LSP)")
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    return True


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="fillgap bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a small run (under a minute here); for CI")
    add_model_arguments(p)  # --model and --device go to the decode part, --threads to the LSP part's worker
    p.set_defaults(device=None)  # unset: the decode part picks CUDA when it has one
    p.add_argument("--gaps", default=None, help="decode gaps, e.g. 32,64,128,256")
    p.add_argument("--context", type=int, default=None, help="decode prefix and suffix tokens each (default 512)")
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--steps", default=None, help="DiffusionGemma: denoising steps per canvas (default 12,24,48)")
    p.add_argument("--concurrency", default="1,4,16")
    p.add_argument(
        "--random-model", default=None, help="decode a random-weight model of this size (model.bench.decode -h)"
    )
    p.add_argument("--bandwidth-gbs", type=float, default=None, help="for the roofline bound off CUDA")
    p.add_argument("--peak-tflops", type=float, default=None, help="for the roofline bound off CUDA")
    p.add_argument("--no-lsp", action="store_true", help="decode and concurrency only")
    p.add_argument(
        "--cluster-seconds", type=float, default=60.0, help="load per cluster layout (0: no cluster rows; --quick: 0)"
    )
    p.add_argument("--out", type=Path, default=Path("runs/bench.json"))
    p.add_argument("--chart", type=Path, default=None, help="PNG (default: next to --out)")
    ns = p.parse_args(argv)
    if ns.quick:  # the smallest run that still fills every field
        ns.concurrency = "1,4" if ns.concurrency == "1,4,16" else ns.concurrency
        ns.gaps, ns.repeats = ns.gaps or "32", ns.repeats or 1
    result: dict[str, Any] = {"command": "fillgap bench " + " ".join(argv), "decode": decode(ns)}
    if not ns.no_lsp:
        result["lsp"] = run_sync(QUICK if ns.quick else FULL, ns.threads, ns.model, ns.device)
    if ns.cluster_seconds > 0 and not ns.quick:
        result["cluster"] = cluster(ns.cluster_seconds)
    result["targets"] = TARGETS
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps(result, indent=2))
    png = ns.chart or ns.out.with_suffix(".png")
    drawn = chart(result, png)
    print()
    for name, got, target in summary(result):
        print(f"{name:<58} {got:>28}   target: {target}")
    print(f"\nwrote {ns.out}" + (f" and {png}" if drawn else " (no chart: matplotlib is not installed)"))
    return 0
