"""`fillgap measure FILE...`: blank real function bodies and ask for them back.

For each function body (after its docstring and comments) the statements are replaced by the
language's placeholder (`pass`, `throw new Error("TODO");`, `panic("TODO")`, `todo!()`), and the
gap is filled through the worker exactly as the server fills it. Reported: the share of raw
model insertions that parse in context, the share of gaps for which a suggestion is offered
(after clean-up and the syntax check, which guarantees it parses), exact matches (whitespace
ignored), and latency. This measures syntax, not correctness: `fillgap eval` runs tests.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import tree_sitter as ts

from lsp.fill.gaps import BODY_BUDGETS, Gap
from lsp.fill.pipeline import fill_gap
from lsp.fill.postprocess import parses
from lsp.fill.syntax import EXTENSIONS, ByteIndex, captured, grammar, parse
from lsp.worker.client import WorkerClient
from model.wire.protocol import SamplerSettings
from model.wire.stats import percentile


@dataclass(frozen=True)
class BodyCase:
    path: str
    language: str
    document: str  # with the body replaced by the language's placeholder
    gap: Gap
    truth: str


@dataclass
class Report:
    files: int
    cases: int
    raw_parses: float
    offered: float
    how: dict[str, int]  # offered whole, repaired, from resampling, cut back to lines that parse, or not
    multiline: float  # share of offered fills that span several lines
    exact: float
    mean_ms: float
    p95_ms: float


@dataclass(frozen=True)
class Bodies:
    """A source file's function bodies, each with its statements after its docstring and comments."""

    language: str
    text: str
    index: ByteIndex
    placeholder: str  # the language's placeholder body
    blocks: list[tuple[ts.Node, list[ts.Node]]]


def bodies_of(path: Path) -> Bodies | None:
    """The file's bodies that hold a statement; None for a language without a grammar here."""
    language = EXTENSIONS.get(path.suffix)
    if language is None:
        return None
    text = path.read_text(encoding="utf-8", errors="replace")
    g = grammar(language)
    root = parse(language, text).root_node
    trivia = {n.id for n in captured(g.trivia, root, "trivia")}
    blocks = [(block, stmts) for block in captured(g.bodies, root, "body") if (stmts := _statements(block, trivia))]
    return Bodies(language, text, ByteIndex(text), g.placeholder, blocks)


def body_cases(path: Path, budgets: tuple[int, ...] = BODY_BUDGETS) -> list[BodyCase]:
    found = bodies_of(path)
    if found is None:
        return []
    text, index = found.text, found.index
    cases = []
    for _, stmts in found.blocks:
        start, end = index.to_char(stmts[0].start_byte), index.to_char(stmts[-1].end_byte)
        indent = text[text.rfind("\n", 0, start) + 1 : start]
        if indent.strip():
            continue
        document = text[:start] + found.placeholder + text[end:]
        gap = Gap("body", start, start + len(found.placeholder), indent, budgets)
        cases.append(BodyCase(str(path), found.language, document, gap, text[start:end]))
    return cases


def _statements(block: ts.Node, trivia: set[int]) -> list[ts.Node]:
    """A body's statements after its leading docstring and comments (Go nests them in a statement_list)."""
    stmts = list(block.named_children)
    while stmts and stmts[0].id in trivia:
        stmts = stmts[1:]
    if len(stmts) == 1 and stmts[0].type == "statement_list":
        return _statements(stmts[0], trivia)
    return stmts


def _norm(code: str) -> str:
    return " ".join(code.split())


async def measure(
    paths: list[Path],
    worker: WorkerClient,
    sampler: SamplerSettings,
    limit: int,
    seed: int,
    budgets: tuple[int, ...] = BODY_BUDGETS,
) -> Report:
    cases = [c for p in paths for c in body_cases(p, budgets)]
    random.Random(seed).shuffle(cases)
    cases = cases[:limit]
    raw_ok = exact = multiline = 0
    how: Counter[str] = Counter()
    times = []
    for case in cases:
        t0 = time.perf_counter()
        outcome = await fill_gap(worker, case.language, case.document, case.gap, sampler)
        times.append((time.perf_counter() - t0) * 1000)
        raw_ok += parses(case.language, case.document, case.gap, outcome.raw)
        how[outcome.how] += 1
        if outcome.suggestion is not None:
            exact += _norm(outcome.suggestion.text) == _norm(case.truth)
            multiline += "\n" in outcome.suggestion.text
    n = max(len(cases), 1)
    return Report(
        files=len({c.path for c in cases}),
        cases=len(cases),
        raw_parses=raw_ok / n,
        offered=(n - how["none"]) / n if cases else 0.0,
        how={k: how[k] for k in ("whole", "repaired", "resampled", "cut", "none")},
        multiline=multiline / max(1, n - how["none"]),
        exact=exact / n,
        mean_ms=statistics.fmean(times) if times else 0.0,
        p95_ms=percentile(times, 95) or 0.0,  # nearest rank (model.wire.stats); 0 with no cases
    )


async def run(
    paths: list[Path], worker: WorkerClient, sampler: SamplerSettings, limit: int, seed: int, budgets: tuple[int, ...]
) -> int:
    try:
        report = await measure(paths, worker, sampler, limit, seed, budgets)
    finally:
        await worker.close()
    print(json.dumps(asdict(report), indent=2))
    return 0
