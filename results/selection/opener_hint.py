"""Would telling the model that a blank line must open a block help? On the eval's 200 seeded
HumanEval single-line tasks, those whose next non-blank line is indented deeper than the gap (70
of them: in Python that line must end with ':'), the greedy full-profile fill three ways:
  plain   the request as the server sends it;
  hint    ':' put at the start of the suffix, the model's text + ':' checked;
  hint1   the same, the model's text cut to its first line and stripped of its own ':' first
          (the model tends to write the ':' itself, and more lines after it).
Counts: the top candidate parses in context, passes its tests, any candidate parses.
Not product code.

    python results/selection/opener_hint.py [LENGTHS]    (default 16,32: the full profile's)"""

import asyncio
import json
import sys

import lsp.eval.harness as H
from lsp.eval.command import _tasks
from lsp.fill.gaps import Budgets, find_gap
from lsp.fill.pipeline import PREFIX_CHARS, SUFFIX_CHARS
from lsp.fill.postprocess import clean, parses
from lsp.worker.client import WorkerClient
from model.wire.options import WorkerOptions, start_timeout_s, worker_command
from model.wire.sampling import SamplerSettings


def indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def opens_block(doc: str, start: int, end: int) -> bool:
    rest = [line for line in doc[end:].split("\n")[1:] if line.strip()]
    return bool(rest) and indent(rest[0]) > start - (doc.rfind("\n", 0, start) + 1)


def finish(text: str, mode: str) -> str:
    if not text or mode == "plain":
        return text
    if mode == "hint1":
        text = text.split("\n")[0].rstrip().rstrip(":")
    return text + ":"


async def main(lengths: tuple[int, ...]) -> None:
    _, tasks = _tasks("single", 200, 1)
    options = WorkerOptions()
    worker = WorkerClient(worker_command(options), start_timeout_s(options.model))
    judge, counts, n = H.Judge(), {}, 0
    try:
        for task in tasks:
            doc = task.document
            gap = find_gap("python", doc, task.cursor, Budgets(lines=lengths))
            if not opens_block(doc, gap.start, gap.end):
                continue
            n += 1
            prefix = doc[max(0, gap.start - PREFIX_CHARS) : gap.start]
            suffix = doc[gap.end : gap.end + SUFFIX_CHARS]
            row = {"task": task.id, "truth": task.truth}
            for mode in ("plain", "hint", "hint1"):
                told = suffix if mode == "plain" else ":" + suffix
                res = await worker.fill(prefix, told, gap.budgets, SamplerSettings())
                texts = [finish(clean(c.text, gap, told), mode) for c in res.candidates]
                ok = [bool(t) and parses("python", doc, gap, t) for t in texts]
                top = texts[0] if texts else ""
                passed = bool(ok and ok[0]) and judge(task, doc[: gap.start] + top + doc[gap.end :], 0.0).passed
                c = counts.setdefault(mode, {"top parses": 0, "passed": 0, "any parses": 0})
                c["top parses"] += bool(ok and ok[0])
                c["passed"] += passed
                c["any parses"] += any(ok)
                row[mode] = top
            print(json.dumps(row), flush=True)
    finally:
        await worker.close()
    for mode, c in counts.items():
        print(f"{mode:<6} {n} tasks: " + ", ".join(f"{k} {v}" for k, v in c.items()))


if __name__ == "__main__":
    asyncio.run(main(tuple(int(x) for x in (sys.argv[1] if len(sys.argv) > 1 else "16,32").split(","))))
