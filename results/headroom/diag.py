"""Headroom: for HumanEval tasks, every candidate the worker gives under several samplers, with
parse-in-context, pass, and confidences. Usage: diag.py KIND N OUT"""
import asyncio, json, sys, time
from lsp.eval.tasks import all_tasks, load_problems, sample
from lsp.eval.harness import program
from lsp.eval.sandbox import run_program
from lsp.fill.gaps import DEFAULT_BUDGETS, find_gap
from lsp.fill.postprocess import clean, parses
from lsp.fill.pipeline import PREFIX_CHARS, SUFFIX_CHARS, kept_confidences
from lsp.worker.client import WorkerClient
from model.wire.options import WorkerOptions, start_timeout_s, worker_command
from model.wire.protocol import SamplerSettings

kind, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
VARIANTS = {
    "greedy": (SamplerSettings(), 1),
    "steps16": (SamplerSettings(steps=16), 1),
    "t08": (SamplerSettings(temperature=0.8, seed=1, dual_cache=True), 3),
    "t05": (SamplerSettings(temperature=0.5, seed=2, dual_cache=True), 3),
}

async def main():
    opts = WorkerOptions()
    w = WorkerClient(worker_command(opts), start_timeout_s(opts.model))
    tasks = sample(all_tasks(load_problems(), kind), n, seed=1)
    rows = []
    seen = {}
    t0 = time.time()
    for i, task in enumerate(tasks):
        doc = task.document
        gap = find_gap("python", doc, task.cursor, DEFAULT_BUDGETS)
        prefix = doc[max(0, gap.start - PREFIX_CHARS):gap.start]
        suffix = doc[gap.end:gap.end + SUFFIX_CHARS]
        row = {"task": task.id, "budgets": list(gap.budgets), "variants": {}}
        for name, (s, rep) in VARIANTS.items():
            res = await w.fill(prefix, suffix, list(gap.budgets) * rep, s)
            cands = []
            for c in res.candidates:
                t = clean(c.text, gap, suffix)
                if not t:
                    cands.append({"text": "", "parse": False, "pass": False, "mean": c.mean_confidence, "conf": []})
                    continue
                p = parses("python", doc, gap, t, None, False)
                filled = doc[:gap.start] + t + doc[gap.end:]
                prog = program(task, filled)
                if prog not in seen:
                    seen[prog] = run_program(prog).passed if p else False
                cands.append({"text": t, "parse": p, "pass": seen[prog], "mean": c.mean_confidence,
                              "conf": list(kept_confidences(t, c)), "budget": c.budget, "ms": res.elapsed_ms})
            row["variants"][name] = cands
        rows.append(row)
        if i % 10 == 0:
            print(i, round(time.time() - t0), flush=True)
    await w.close()
    json.dump(rows, open(out, "w"))

asyncio.run(main())
