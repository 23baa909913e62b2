"""`fillgap measure FILE...`: blank function bodies and measure how the fills parse (lsp/eval/measure.py);
with --calibrate-gate, blank single lines and choose the as-you-type gate's threshold (lsp/eval/calibrate.py)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from lsp.cli.worker_flags import add_fill_arguments, private_worker, sampler
from lsp.eval.calibrate import run as calibrate
from lsp.eval.measure import run as measure
from lsp.fill.gaps import BODY_BUDGETS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--limit", type=int, default=100, help="bodies (or, calibrating, lines) to measure: a seeded sample")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--budgets", default=None, help="gap length budgets in tokens, e.g. 48 or 8,16,32,48")
    p.add_argument(
        "--calibrate-gate",
        action="store_true",
        help="blank single body lines, fill them as typed requests, print precision and share shown per gate "
        "threshold and the suggested typing.gate (use held-out files: python -m model.train.corpus --split held-out)",
    )
    p.add_argument("--out", type=Path, default=None, help="--calibrate-gate: write the table and every fill as JSON")
    add_fill_arguments(p)


def run(ns: argparse.Namespace) -> int:
    if ns.calibrate_gate:
        # The files are a split's paths (held-out: `$(python -m model.train.corpus --split held-out)`):
        # the command keeps the flags; the report lists the files.
        flags = ["fillgap measure --calibrate-gate", f"--limit {ns.limit}", f"--seed {ns.seed}"]
        flags += [f"--model {ns.model}"] if ns.model else []
        flags += [f"--out {ns.out}"] if ns.out else []
        flags.append(f"FILE... ({len(ns.files)}: the report's files)")
        command = " ".join(flags)
        work = calibrate(ns.files, private_worker(ns), sampler(ns), ns.limit, ns.seed, ns.out, command, ns.model)
        return asyncio.run(work)
    budgets = tuple(int(b) for b in ns.budgets.split(",")) if ns.budgets else BODY_BUDGETS
    return asyncio.run(measure(ns.files, private_worker(ns), sampler(ns), ns.limit, ns.seed, budgets))
