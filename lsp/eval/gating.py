"""The as-you-type gate on the eval's tasks: pass@1 among the fills a typed request would show
against the share shown, for every threshold, from the scores the one run recorded (no rerun
per threshold). A fill is shown under threshold t > 0 when it scores at least t and is not trivial
(lsp/fill/gate.py); t = 0 is the gate off. Nothing offered is never shown."""

from __future__ import annotations

from typing import Any

from lsp.eval.harness import Record
from lsp.fill.gate import SCORE, THRESHOLDS


def shown(record: Record, threshold: float) -> bool:
    if not record.offered:
        return False
    if threshold <= 0:
        return True
    rated = record.scores.get(SCORE, record.score) if record.scores else record.score  # the gate's score now
    return not record.trivial and rated is not None and rated >= threshold


def point(records: list[Record], threshold: float) -> dict[str, float]:
    kept = [r for r in records if shown(r, threshold)]
    n = max(1, len(records))
    return {
        "threshold": threshold,
        "shown": len(kept),
        "offered": len(kept) / n,
        "precision": sum(r.passed for r in kept) / len(kept) if kept else 0.0,  # pass@1 among those shown
        "pass@1": sum(r.passed for r in kept) / n,  # of all tasks, a fill shown and passing
    }


def gate_report(records: list[Record], default: float) -> dict[str, Any]:
    """The curve, and the point at the default gate: the one in force for the model when
    `typing.gate` is unset (lsp/fill/gate.py threshold)."""
    return {
        "default": default,
        "at_default": point(records, default),
        "trivial": sum(r.trivial for r in records if r.offered),
        "curve": [point(records, t) for t in THRESHOLDS],
    }


def curve_table(name: str, kind: str, report: dict[str, Any]) -> str:
    head = f"gate curve, {name} {kind} (pass@1 among the fills shown while typing):"
    rows = [head, f"{'gate':>8}{'shown':>7}{'offered':>9}{'pass@1 shown':>14}"]
    for p in report["curve"]:
        mark = "  <- default" if p["threshold"] == report["default"] else ""
        rows.append(
            f"{p['threshold']:>8.2f}{p['shown']:>7}{100 * p['offered']:>8.1f}%{100 * p['precision']:>13.1f}%{mark}"
        )
    d = report["at_default"]
    rows.append(
        f"at the default gate {report['default']}: precision {100 * d['precision']:.1f}% "
        f"({d['shown']} shown, {100 * d['offered']:.1f}% of tasks); trivial fills: {report['trivial']}"
    )
    return "\n".join(rows)
