"""The `fillgap eval` command: choose tasks and configurations, run them, write the table, JSON and chart."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lsp.eval.gating import curve_table, gate_report
from lsp.eval.harness import ANCHORS, EvalConfig, Judge, Record, WorkerChoice, presets, run_config, summarize
from lsp.eval.sandbox import network_isolated
from lsp.eval.tasks import KINDS, Task, all_tasks, load_problems, sample
from lsp.fill.gate import TRIVIAL_ONLY
from lsp.worker.settings import add_deadline_argument
from model.wire.options import DTYPES, WorkerOptions, add_model_arguments


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kinds", default=",".join(KINDS), help=f"task kinds, comma-separated: {', '.join(KINDS)}")
    p.add_argument("--limit", type=int, default=0, help="a seeded sample of N tasks per kind (0: all of them)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--configs", default="default", help=f"comma-separated, of: {', '.join(presets())} (canonical/empty: no model)"
    )
    p.add_argument("--direct", action="store_true", help="drive the worker directly instead of through the LSP")
    p.add_argument(
        "--dtype",
        choices=DTYPES,
        default="auto",
        help="with --direct: the worker's weights and activations, to compare float32 with bfloat16 (the "
        "server's worker always takes auto)",
    )
    add_model_arguments(p)
    add_deadline_argument(p)
    p.add_argument("--out", type=Path, default=Path("results/eval.json"), help="JSON results (with every task)")
    p.add_argument("--chart", type=Path, default=None, help="PNG chart (default: next to --out)")
    p.add_argument(
        "--merge", type=Path, nargs="+", default=None, help="no run: join earlier JSON results (same tasks) into --out"
    )


def _configs(names: str) -> list[EvalConfig]:
    known = presets()
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in known]
    if unknown or not wanted:
        raise SystemExit(f"fillgap eval: unknown configuration(s) {unknown}; choose from {', '.join(known)}")
    return [known[n] for n in wanted]


def _tasks(kinds: str, limit: int, seed: int) -> tuple[dict[str, int], list[Task]]:
    problems = load_problems()
    counts, chosen = {}, []
    for kind in (k.strip() for k in kinds.split(",") if k.strip()):
        everything = all_tasks(problems, kind)
        counts[kind] = len(everything)
        chosen += sample(everything, limit, seed)
    return counts, chosen


def table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    head = (
        f"{'config':<14}{'kind':<8}{'tasks':>6}{'pass@1':>8}{'parses':>8}{'raw':>7}{'exact':>7}{'offered':>9}"
        f"{'mean ms':>9}"
    )
    rows = [head, "-" * len(head)]
    for name, kinds in results.items():
        for kind, s in kinds.items():
            if not s.get("tasks"):
                continue
            rows.append(
                f"{name:<14}{kind:<8}{s['tasks']:>6}{100 * s['pass@1']:>7.1f}%{100 * s['parses']:>7.1f}%"
                f"{100 * s.get('raw_parses', 0.0):>6.1f}%"  # absent from runs made before it was recorded
                f"{100 * s['exact']:>6.1f}%{100 * s['offered']:>8.1f}%{s['mean_ms']:>9.0f}"
            )
    rows.append("")
    rows.append("Published HumanEval-Infill pass@1, fixed-length budget (Open-dLLM README):")
    rows += [f"  {name:<32}{score:5.1f}%" for name, score in ANCHORS.items()]
    return "\n".join(rows)


def _progress(done: list[int], total: int, name: str) -> Any:
    def report(record: Record) -> None:
        done[0] += 1
        if done[0] % 25 == 0 or done[0] == total:
            print(f"  {name}: {done[0]}/{total}", file=sys.stderr, flush=True)

    return report


async def evaluate(ns: argparse.Namespace) -> dict[str, Any]:
    configs = _configs(ns.configs)
    counts, tasks = _tasks(ns.kinds, ns.limit, ns.seed)
    judge = Judge()
    results: dict[str, dict[str, dict[str, float]]] = {}
    details: dict[str, Any] = {}
    gates: dict[str, dict[str, Any]] = {}
    for config in configs:
        t0 = time.time()
        said: dict[str, Any] = {}
        records = await run_config(
            config,
            tasks,
            judge,
            worker=WorkerChoice(
                WorkerOptions(model=ns.model, device=ns.device, threads=ns.threads, dtype=ns.dtype), ns.deadline_ms
            ),
            direct=ns.direct,
            progress=_progress([0], len(tasks), config.name),
            said=said,
        )
        results[config.name] = {k: summarize([r for r in records if r.kind == k]) for k in counts}
        if not config.oracle:
            gates[config.name] = {k: gate_report([r for r in records if r.kind == k], said["gate"]) for k in counts}
        details[config.name] = {
            "sampler": asdict(config.sampler),
            "budgets": asdict(config.budgets),
            "oracle": config.oracle,
            "typed": config.typed,
            "seconds": round(time.time() - t0, 1),
            "records": [asdict(r) for r in records],
        }
    return {
        "model": ns.model or "shipped default",
        "device": ns.device,
        "dtype": ns.dtype,
        "path": "direct" if ns.direct else "lsp",
        "seed": ns.seed,
        "limit_per_kind": ns.limit,
        "task_counts": counts,
        "network_isolated": network_isolated(),
        "anchors": ANCHORS,
        "results": results,
        "gate": gates,  # lsp/eval/gating.py: pass@1 among the fills shown while typing, per gate threshold
        "configs": details,
    }


def merge(paths: list[Path]) -> dict[str, Any]:
    """Several runs' results as one report; they must share model, path, tasks and seed."""
    reports = [json.loads(p.read_text()) for p in paths]
    first = reports[0]
    same = ("model", "dtype", "path", "seed", "limit_per_kind", "task_counts")
    for path, other in zip(paths[1:], reports[1:], strict=True):
        if any(other.get(k) != first.get(k) for k in same):  # runs from before "dtype" have none
            raise ValueError(f"{path} was run on other tasks or another model than {paths[0]}")
    merged = {**first, "results": {}, "gate": {}, "configs": {}}
    defaults: dict[str, float] = {}
    for r in reports:
        merged["results"].update(r["results"])
        merged["configs"].update(r["configs"])
        defaults.update({name: _recorded_gate(kinds) for name, kinds in (r.get("gate") or {}).items()})
    for name, config in merged["configs"].items():  # recomputed from the records, at the gate each run had
        records = [Record(**r) for r in config["records"]]
        if name in defaults and not config["oracle"] and all("score" in r for r in config["records"]):
            merged["gate"][name] = {
                k: gate_report([r for r in records if r.kind == k], defaults[name]) for k in first["task_counts"]
            }
    return merged


def _recorded_gate(kinds: dict[str, Any]) -> float:
    """The default gate a run's curves were drawn at (the same for each kind of task)."""
    return float(next(iter(kinds.values()))["default"]) if kinds else TRIVIAL_ONLY


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="fillgap eval", description="HumanEval infilling: fill, run the tests, report.")
    add_arguments(p)
    ns = p.parse_args(argv)
    if ns.dtype != "auto" and not ns.direct:
        p.error("--dtype needs --direct: the server starts its worker at dtype auto")
    try:
        report = merge(ns.merge) if ns.merge else asyncio.run(evaluate(ns))
    except (RuntimeError, ValueError) as exc:
        print(f"fillgap eval: {exc}", file=sys.stderr)
        return 2
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps(report, indent=1) + "\n")
    print(table(report["results"]))
    for name, kinds in report.get("gate", {}).items():
        for kind, gate in kinds.items():
            if kind == "single" and report["results"][name][kind].get("tasks"):
                print("\n" + curve_table(name, kind, gate))
    print(f"\ntask counts (all): {report['task_counts']}; results: {ns.out}")
    chart = ns.chart or ns.out.with_suffix(".png")
    try:
        from lsp.eval.chart import draw
    except ImportError:
        print("(no chart: matplotlib is not installed; pip install 'fillgap[eval]')", file=sys.stderr)
        return 0
    draw(report, chart)
    print(f"chart: {chart}")
    return 0
