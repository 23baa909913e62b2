"""Typing-profile variants on the eval's 200 seeded HumanEval single-line tasks, asked as typed
through the worker (the eval's direct path), gate off while filling; each variant's fills shown at
the model's calibrated gate are counted afterwards (lsp/eval/gating.py). Not product code.

    KINDS=single python results/typing-profile/variants.py old,l8-16-r2 [repair_rounds]

A variant overrides the TypingProfile defaults of the commit it runs on; "old" spells out the
profile before this study (one 32-token blank-line length, one refinement round)."""

import asyncio
import json
import os
import sys
import time

import lsp.eval.harness as H
import lsp.fill.pipeline as P
from lsp.eval.command import _tasks
from lsp.eval.gating import point
from lsp.fill.gaps import Budgets
from lsp.fill.settings import TypingProfile


def lines(*lengths: int) -> Budgets:
    return Budgets(body=(32,), lines=lengths, line=(8,))


VARIANTS = {
    "old": dict(refine_rounds=1, budgets=lines(32)),
    "l16": dict(refine_rounds=1, budgets=lines(16)),
    "l16-32": dict(refine_rounds=1, budgets=lines(16, 32)),
    "l8": dict(refine_rounds=1, budgets=lines(8)),
    "l8-16": dict(refine_rounds=1, budgets=lines(8, 16)),
    "old-s8": dict(steps=8, refine_rounds=1, budgets=lines(32)),
    "old-r2": dict(refine_rounds=2, budgets=lines(32)),
    "old-res": dict(refine_rounds=1, resample=True, budgets=lines(32)),
    "l16-s8": dict(steps=8, refine_rounds=1, budgets=lines(16)),
    "l16-r2": dict(refine_rounds=2, budgets=lines(16)),
    "l16-res": dict(refine_rounds=1, resample=True, budgets=lines(16)),
    "l8-r2": dict(refine_rounds=2, budgets=lines(8)),
    "l8-res": dict(refine_rounds=1, resample=True, budgets=lines(8)),
    "l8-r2-res": dict(refine_rounds=2, resample=True, budgets=lines(8)),
    "l8-16-r2": dict(refine_rounds=2, budgets=lines(8, 16)),
    "l8-16-res": dict(refine_rounds=1, resample=True, budgets=lines(8, 16)),
    "l8-16-r2-res": dict(refine_rounds=2, resample=True, budgets=lines(8, 16)),
    "l8-16-s8-r2": dict(steps=8, refine_rounds=2, budgets=lines(8, 16)),
    "l8-16-32-r2": dict(refine_rounds=2, budgets=lines(8, 16, 32)),
}


async def main(names: list[str], repair: int) -> None:
    _, tasks = _tasks(os.environ.get("KINDS", "single"), 200, 1)
    judge = H.Judge()
    for name in names:
        if name.startswith("FULL"):  # the full profile with these blank-line lengths: FULL16-32
            cfg = H.EvalConfig(name, budgets=Budgets(lines=tuple(int(x) for x in name[4:].split("-"))))
        else:
            kw = VARIANTS[name]
            H.TypingProfile = lambda kw=kw: TypingProfile(**kw)  # what the direct path fills a typed task with
            cfg = H.EvalConfig(name, typed=True)
        P.TYPING_REPAIR_ROUNDS = repair
        said: dict = {}
        t0 = time.time()
        every = await H.run_config(cfg, tasks, judge, direct=True, said=said)
        for kind in sorted({r.kind for r in every}):
            report(name, kind, repair, [r for r in every if r.kind == kind], said["gate"], time.time() - t0)


def report(name: str, kind: str, repair: int, recs: list, gate: float, seconds: float) -> None:
    ms = sorted(r.ms for r in recs)
    s, p = H.summarize(recs), point(recs, gate)
    row = dict(
        p50_ms=round(ms[len(ms) // 2]), p95_ms=round(ms[int(len(ms) * 0.95)]), offered=s["offered"],
        raw_parses=s["raw_parses"], passed=round(s["pass@1"] * len(recs)), gate=gate,
        shown=p["shown"], shown_passing=round(p["precision"] * p["shown"]), precision=round(p["precision"], 3),
    )
    print(name, kind, repair, json.dumps(row), f"{seconds:.0f}s", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1].split(","), int(sys.argv[2]) if len(sys.argv) > 2 else 1))
