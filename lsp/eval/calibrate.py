"""`fillgap measure --calibrate-gate FILE...`: choose the as-you-type gate's threshold (lsp/fill/gate.py)
on held-out code, never on the benchmark the eval reports.

Each case blanks one non-blank line of a function body (after its docstring), leaving the line's
indentation with the cursor at its end, as HumanEval's single-line tasks do and as an editor
leaves a fresh line; the gap is found and filled exactly as a typed request is (the typing
profile, its budgets, no resampling). A fill is right when it equals the blanked line with
whitespace normalised (runs of whitespace as one space; a stricter rule than a test passing, so
the precision here is a floor). For every threshold: the share of cases whose fill is shown (a
fill, not trivial, scoring at least the threshold) and the precision among those shown; for
every score in gate.SCORES, how well it separates right fills from wrong ones (ROC AUC).
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lsp.eval.measure import bodies_of
from lsp.fill.gaps import find_gap
from lsp.fill.gate import SCORE, SCORES, THRESHOLDS, score
from lsp.fill.pipeline import fill_gap
from lsp.fill.settings import TypingProfile
from lsp.fill.trivial import trivial_fill
from lsp.worker.client import WorkerClient
from model.wire.protocol import SamplerSettings
from model.wire.stats import percentile

MIN_SHARE_OF_RIGHT = 0.75  # the default keeps at least this share of the right fills shown


@dataclass(frozen=True)
class LineCase:
    path: str
    language: str
    document: str  # the file with one body line blanked to its indentation
    cursor: int
    truth: str  # the blanked line, without its indentation


@dataclass(frozen=True)
class Fill:
    path: str
    line: int  # 1-based, in the original file
    truth: str
    fill: str | None  # None: nothing offered
    right: bool
    trivial: bool
    scores: dict[str, float]  # by gate.SCORES name
    how: str
    ms: float


def line_cases(path: Path) -> list[LineCase]:
    """One case per non-blank line of each function body after its docstring and comments."""
    found = bodies_of(path)
    if found is None:
        return []
    language, text, index = found.language, found.text, found.index
    starts: set[int] = set()
    for block, stmts in found.blocks:
        at = text.rfind("\n", 0, index.to_char(stmts[0].start_byte)) + 1
        end = index.to_char(block.end_byte)
        while at < end:  # the lines of the body from its first statement on
            line_end = text.find("\n", at)
            line_end = len(text) if line_end < 0 else line_end
            line = text[at:line_end]
            if line.strip() and not line.lstrip().startswith(("#", "//")):
                starts.add(at)
            at = line_end + 1
    cases = []
    for at in sorted(starts):  # nested functions' lines are found twice: once each
        line_end = text.find("\n", at)
        line_end = len(text) if line_end < 0 else line_end
        line = text[at:line_end]
        indent = line[: len(line) - len(line.lstrip())]
        document = text[: at + len(indent)] + text[line_end:]
        cases.append(LineCase(str(path), language, document, at + len(indent), line.strip()))
    return cases


def _norm(code: str) -> str:
    return " ".join(code.split())


async def fill_cases(
    cases: list[LineCase], worker: WorkerClient, sampler: SamplerSettings, typing: TypingProfile
) -> list[Fill]:
    """Each case filled as a typed request is: the typing profile's sampler, budgets and resampling."""
    fills = []
    budgets_sampler = typing.sampler(sampler)
    for i, case in enumerate(cases):
        gap = find_gap(case.language, case.document, case.cursor, typing.budgets)
        t0 = time.perf_counter()
        outcome = await fill_gap(
            worker, case.language, case.document, gap, budgets_sampler, resample=typing.resample, profile="typing"
        )
        ms = (time.perf_counter() - t0) * 1000
        s = outcome.suggestion
        line = case.document.count("\n", 0, case.cursor) + 1
        if s is None:
            fills.append(Fill(case.path, line, case.truth, None, False, False, {}, outcome.how, ms))
        else:
            trivial = trivial_fill(case.language, case.document, gap, s.text)
            scores = {name: round(score(s, name), 6) for name in SCORES}
            right = _norm(s.text) == _norm(case.truth)
            fills.append(Fill(case.path, line, case.truth, s.text, right, trivial, scores, outcome.how, ms))
        if (i + 1) % 50 == 0:
            print(f"  {i + 1}/{len(cases)}", file=sys.stderr, flush=True)
    return fills


def auc(positives: list[float], negatives: list[float]) -> float | None:
    """The chance a right fill scores above a wrong one (ties count half); None without both."""
    if not positives or not negatives:
        return None
    ranked = sorted([(v, 1) for v in positives] + [(v, 0) for v in negatives])
    rank_sum, i = 0.0, 0
    while i < len(ranked):  # average ranks over ties
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        rank_sum += sum(1 for _, pos in ranked[i:j] if pos) * (i + j + 1) / 2
        i = j
    n_pos, n_neg = len(positives), len(negatives)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


LENGTHS = (8, 20, 40)  # characters: the bins of same_length_auc


def same_length_auc(fills: list[Fill], kind: str) -> float | None:
    """The chance a right fill outscores a wrong one of about its length (same bin of LENGTHS).
    Right fills are short (the current model's are mostly `else:`), and a short fill has fewer
    tokens to doubt, so a score that falls with length wins the plain AUC by length alone."""

    def bin_of(f: Fill) -> int:
        return sum(len(f.fill or "") > edge for edge in LENGTHS)

    pairs = total = 0.0
    for b in range(len(LENGTHS) + 1):
        mine = [f for f in fills if f.fill is not None and bin_of(f) == b]
        pos = [f.scores[kind] for f in mine if f.right]
        neg = [f.scores[kind] for f in mine if not f.right]
        value = auc(pos, neg)
        if value is not None:
            pairs += len(pos) * len(neg)
            total += value * len(pos) * len(neg)
    return total / pairs if pairs else None


def curve(fills: list[Fill], kind: str = SCORE, thresholds: tuple[float, ...] = THRESHOLDS) -> list[dict[str, float]]:
    """Per threshold: share of cases shown, precision among shown, share of the right fills shown."""
    n = max(1, len(fills))
    right = sum(f.right for f in fills)
    rows = []
    for t in thresholds:
        shown = [f for f in fills if f.fill is not None and (t <= 0 or (not f.trivial and f.scores[kind] >= t))]
        hits = sum(f.right for f in shown)
        rows.append(
            {
                "threshold": t,
                "shown": len(shown),
                "offered": len(shown) / n,
                "precision": hits / len(shown) if shown else 0.0,
                "right_kept": hits / right if right else 0.0,
            }
        )
    return rows


def choose(rows: list[dict[str, float]]) -> float:
    """The default: the highest threshold that still shows MIN_SHARE_OF_RIGHT of the right fills
    (so it drops most of the wrong ones while keeping most right ones), among those above 0."""
    kept = [r["threshold"] for r in rows if r["threshold"] > 0 and r["right_kept"] >= MIN_SHARE_OF_RIGHT]
    return max(kept) if kept else 0.0


def report(fills: list[Fill], command: str, model: str | None) -> dict[str, Any]:
    offered = [f for f in fills if f.fill is not None]
    aucs = {
        name: auc([f.scores[name] for f in offered if f.right], [f.scores[name] for f in offered if not f.right])
        for name in SCORES
    }
    rows = curve(fills)
    by_score = {name: curve(fills, name) for name in SCORES}
    same = {name: same_length_auc(fills, name) for name in SCORES}
    known = {name: v for name, v in same.items() if v is not None}
    ms = [f.ms for f in fills]
    return {
        "command": command,
        "model": model or "shipped default",
        "label": "right: the fill equals the blanked line, whitespace normalised",
        "cases": len(fills),
        "files": sorted({f.path for f in fills}),
        "offered_ungated": len(offered) / max(1, len(fills)),
        "right": sum(f.right for f in fills),
        "trivial": sum(f.trivial for f in offered),
        "how": {h: sum(f.how == h for f in fills) for h in ("whole", "repaired", "resampled", "cut", "none")},
        "mean_ms": statistics.fmean(ms) if ms else 0.0,
        "p95_ms": percentile(ms, 95) or 0.0,
        "score": SCORE,
        "auc": aucs,
        "auc_same_length": same,  # within bins of fill length (LENGTHS): what the score says beyond length
        "auc_shortness": auc(
            [-len(f.fill or "") for f in offered if f.right], [-len(f.fill or "") for f in offered if not f.right]
        ),
        "rule": f"the highest threshold > 0 keeping >= {MIN_SHARE_OF_RIGHT:.0%} of the right fills shown",
        "suggested_threshold": choose(rows),
        "curve": rows,
        # Were the gate to use another score (lsp/fill/gate.py SCORE): the best by same-length AUC, and each
        # one's threshold.
        "best_score": max(known, key=lambda k: known[k]) if known else None,
        "suggested_by_score": {name: choose(c) for name, c in by_score.items()},
        "curves_by_score": by_score,
        "fills": [asdict(f) for f in fills],
    }


def table(result: dict[str, Any]) -> str:
    lines = [f"{'gate':>6}{'shown':>7}{'offered':>9}{'precision':>11}{'right kept':>12}"]
    for r in result["curve"]:
        lines.append(
            f"{r['threshold']:>6.2f}{r['shown']:>7}{100 * r['offered']:>8.1f}%{100 * r['precision']:>10.1f}%"
            f"{100 * r['right_kept']:>11.1f}%"
        )
    aucs = ", ".join(f"{k} {v:.3f}" if v is not None else f"{k} -" for k, v in result["auc"].items())
    lines.append(
        f"\n{result['cases']} lines of {len(result['files'])} files; ungated offered "
        f"{100 * result['offered_ungated']:.1f}%, right {result['right']}, trivial {result['trivial']}; "
        f"AUC by score: {aucs}"
    )
    same = ", ".join(f"{k} {v:.3f}" if v is not None else f"{k} -" for k, v in result["auc_same_length"].items())
    short = result["auc_shortness"]
    lines.append(
        f"AUC within bins of fill length: {same}; of shortness alone: {short if short is None else round(short, 3)}"
    )
    lines.append(
        f"suggested gate: {result['suggested_threshold']} ({result['rule']}; score {SCORE}); the server uses"
        " it for these weights once it is their config.json's fillgap_gate"
    )
    others = ", ".join(f"{k} {v}" for k, v in result["suggested_by_score"].items())
    lines.append(f"best score by same-length AUC: {result['best_score']}; the threshold each would take: {others}")
    return "\n".join(lines)


async def run(
    paths: list[Path],
    worker: WorkerClient,
    sampler: SamplerSettings,
    limit: int,
    seed: int,
    out: Path | None,
    command: str,
    model: str | None,
) -> int:
    cases = [c for p in paths for c in line_cases(p)]
    random.Random(seed).shuffle(cases)
    cases = cases[:limit]
    try:
        if cases:  # start the worker before the clock runs; the fill is discarded
            await fill_cases(cases[:1], worker, sampler, TypingProfile())
        fills = await fill_cases(cases, worker, sampler, TypingProfile())
    finally:
        await worker.close()
    result = report(fills, command, model)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1) + "\n")
    print(table(result))
    if out is not None:
        print(f"results: {out}")
    return 0
