"""`fillgap measure FILE...`: blank function bodies and measure how the fills parse (lsp/eval/measure.py)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from lsp.cli.worker_flags import add_fill_arguments, private_worker, sampler
from lsp.eval.measure import run as measure
from lsp.fill.gaps import BODY_BUDGETS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--limit", type=int, default=100, help="bodies to measure (a seeded sample)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--budgets", default=None, help="gap length budgets in tokens, e.g. 48 or 8,16,32,48")
    add_fill_arguments(p)


def run(ns: argparse.Namespace) -> int:
    budgets = tuple(int(b) for b in ns.budgets.split(",")) if ns.budgets else BODY_BUDGETS
    return asyncio.run(measure(ns.files, private_worker(ns), sampler(ns), ns.limit, ns.seed, budgets))
