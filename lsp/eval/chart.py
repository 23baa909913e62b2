"""The `fillgap eval` chart: pass@1 by task kind for each configuration, the published anchors, and
(when the report has it) the as-you-type gate's curve on single lines: pass@1 among the fills shown
against the share shown (lsp/eval/gating.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never a window
import matplotlib.pyplot as plt  # noqa: E402


def draw(report: dict[str, Any], path: Path) -> None:
    results: dict[str, dict[str, dict[str, float]]] = report["results"]
    models = {n: k for n, k in results.items() if not report["configs"][n]["oracle"]}
    kinds = list(report["task_counts"])
    gates = {n: g["single"] for n, g in report.get("gate", {}).items() if n in models and "single" in g}
    gates = {n: g for n, g in gates.items() if models[n].get("single", {}).get("tasks")}
    panels = 3 if gates else 2
    ratios = [3, 2, 2][:panels]
    fig, axes = plt.subplots(1, panels, figsize=(13 + 4 * (panels - 2), 4.8), gridspec_kw={"width_ratios": ratios})
    bars, anchors = axes[0], axes[1]
    width = 0.8 / max(1, len(models))
    for i, (name, per_kind) in enumerate(models.items()):
        xs = [k + i * width for k in range(len(kinds))]
        ys = [100 * per_kind[kind].get("pass@1", 0.0) for kind in kinds]
        ms = [per_kind[kind].get("mean_ms", 0.0) for kind in kinds]
        label = f"{name} ({sum(ms) / max(1, len(ms)):.0f} ms/fill)"
        bars.bar(xs, ys, width, label=label)
    bars.set_xticks([k + 0.4 - width / 2 for k in range(len(kinds))], kinds)
    bars.set_ylabel("pass@1 (%)")
    bars.set_title(f"fillgap on HumanEval infilling ({report['model']}, {report['path']})")
    bars.legend(fontsize=8)
    names = [f"fillgap {n}" for n in models if "single" in models[n]] + list(report["anchors"])
    values = [100 * models[n]["single"]["pass@1"] for n in models if "single" in models[n]]
    values += list(report["anchors"].values())
    colors = ["tab:blue"] * (len(names) - len(report["anchors"])) + ["tab:gray"] * len(report["anchors"])
    anchors.barh(names, values, color=colors)
    anchors.invert_yaxis()
    anchors.set_xlabel("single-line pass@1 (%)")
    anchors.set_title("ours vs published (fixed budget)", fontsize=10)
    anchors.tick_params(axis="y", labelsize=8)
    if gates:
        _gate_panel(axes[2], gates)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _gate_panel(ax: Any, gates: dict[str, dict[str, Any]]) -> None:
    """Per configuration: pass@1 among the single-line fills shown while typing, against the share
    shown, one point per gate threshold; the default gate ringed."""
    for name, gate in gates.items():
        points = [p for p in gate["curve"] if p["shown"]]
        xs = [100 * p["offered"] for p in points]
        ys = [100 * p["precision"] for p in points]
        (line,) = ax.plot(xs, ys, marker=".", label=name)
        d = gate["at_default"]
        ax.scatter([100 * d["offered"]], [100 * d["precision"]], s=90, facecolors="none", edgecolors=line.get_color())
        ax.annotate(f"gate {gate['default']}", (100 * d["offered"], 100 * d["precision"]), fontsize=8)
    ax.set_xlabel("single-line tasks shown while typing (%)")
    ax.set_ylabel("pass@1 among those shown (%)")
    ax.set_title("as-you-type gate: fewer, better", fontsize=10)
    ax.legend(fontsize=8)
