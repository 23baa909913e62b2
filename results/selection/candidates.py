"""Every candidate the worker writes for the eval's seeded HumanEval tasks, each judged: does it
parse in context (the server's check), does the filled program pass its tests. The question it
answers: how often is a right fill among the candidates, and which of the model's own scores
would pick it. Not product code.

    KINDS=single LENGTHS=8,16,32 SAMPLES=4 python results/selection/candidates.py OUT.json

Per task: one greedy request (the full profile, every length) and SAMPLES requests at the
server's resampling temperature, each with its own seed."""

import asyncio
import json
import os
import sys
import time

import lsp.eval.harness as H
from lsp.eval.command import _tasks
from lsp.fill.gaps import Budgets, find_gap
from lsp.fill.pipeline import PREFIX_CHARS, RESAMPLE_TEMPERATURE, SUFFIX_CHARS
from lsp.fill.postprocess import clean, parses
from lsp.worker.client import WorkerClient
from model.wire.options import WorkerOptions, start_timeout_s, worker_command
from model.wire.sampling import SamplerSettings


def lengths() -> tuple[int, ...]:
    return tuple(int(x) for x in os.environ.get("LENGTHS", "8,16,32").split(","))


async def main(out: str) -> None:
    kinds, samples = os.environ.get("KINDS", "single"), int(os.environ.get("SAMPLES", "4"))
    _, tasks = _tasks(kinds, 200, 1)
    options = WorkerOptions()
    worker = WorkerClient(worker_command(options), start_timeout_s(options.model))
    judge, rows, t0 = H.Judge(), [], time.time()
    budgets = Budgets(lines=lengths(), body=lengths() if "body" in kinds else Budgets().body)
    try:
        for i, task in enumerate(tasks):
            gap = find_gap("python", task.document, task.cursor, budgets)
            prefix = task.document[max(0, gap.start - PREFIX_CHARS) : gap.start]
            suffix = task.document[gap.end : gap.end + SUFFIX_CHARS]
            requests = [SamplerSettings()] + [
                SamplerSettings(temperature=RESAMPLE_TEMPERATURE, seed=s + 1, dual_cache=True) for s in range(samples)
            ]
            cands = []
            for r, sampler in enumerate(requests):
                res = await worker.fill(prefix, suffix, gap.budgets, sampler)
                for rank, c in enumerate(res.candidates):
                    text = clean(c.text, gap, suffix)
                    ok = bool(text) and parses("python", task.document, gap, text)
                    rec = judge(task, task.document[: gap.start] + text + task.document[gap.end :], 0.0) if ok else None
                    cands.append(
                        dict(
                            request=r,
                            rank=rank,
                            budget=c.budget,
                            text=text,
                            raw=c.text,
                            parses=ok,
                            passed=bool(rec and rec.passed),
                            mean=c.mean_confidence,
                            conf=list(c.confidences),
                            tokens=list(c.tokens),
                        )
                    )
            rows.append(dict(task=task.id, kind=task.kind, candidates=cands))
            best = any(c["passed"] for c in cands)
            print(i, task.id, len(cands), "oracle" if best else "", f"{time.time() - t0:.0f}s", flush=True)
    finally:
        await worker.close()
    json.dump(dict(lengths=lengths(), samples=samples, kinds=kinds, tasks=rows), open(out, "w"))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
