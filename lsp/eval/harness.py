"""`fillgap eval`: HumanEval infilling tasks filled through the server and run against their tests.

Each configuration starts its own `fillgap serve` (or, with `direct`, its own worker driven by
the same fill code without JSON-RPC), asks for an inline completion at each task's cursor exactly
as an editor does, applies the item, and runs the problem's tests on the result in an isolated
process. Two configurations need no model and bound the harness: `canonical` fills every gap
with the true code (everything must pass) and `empty` accepts nothing.
"""

from __future__ import annotations

import ast
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from lsprotocol import types

from lsp.eval.client import FillgapClient, apply_item, close_doc, inline, open_doc, position_of, running_server
from lsp.eval.sandbox import Verdict, run_program
from lsp.eval.tasks import Task
from lsp.fill.gaps import DEFAULT_BUDGETS, Budgets, find_gap
from lsp.fill.gate import SCORE, all_scores, threshold
from lsp.fill.pipeline import fill_gap
from lsp.fill.settings import TypingProfile
from lsp.fill.trivial import trivial_source
from lsp.worker.client import WorkerClient
from lsp.worker.settings import WorkerSettings
from model.wire.options import WorkerOptions, start_timeout_s, worker_command
from model.wire.protocol import SamplerSettings
from model.wire.stats import percentile

# HumanEval-Infill pass@1 with a fixed-length budget, as reported in the Open-dLLM README.
ANCHORS = {
    "Open-dCoder 0.5B": 32.5,
    "LLaDA-8B": 48.3,
    "DiffuCoder-7B": 54.8,
    "Dream-Coder-7B": 55.3,
    "Open-dCoder 0.5B, true length": 77.4,
}

# A task's filled file (None: nothing offered), the fill's gate scores (lsp/fill/gate.py; None: no
# model), and whether the model's top candidate parsed as written (before repair or resampling).
Scores = dict[str, float]
Filled = tuple[str | None, Scores | None, bool]
FillFn = Callable[[Task], Awaitable[Filled]]
# The as-you-type gate the model's weights were calibrated for (lsp/fill/gate.py threshold; 0: none).
GateFn = Callable[[], Awaitable[float]]


@dataclass(frozen=True)
class EvalConfig:
    name: str
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    budgets: Budgets = DEFAULT_BUDGETS
    oracle: str = ""  # "canonical" or "empty": no model, the harness's ceiling and floor
    # Asked as typed (automatic) requests: the typing profile, no debounce, the gate off so that
    # every fill and its score is recorded (lsp/eval/gating.py applies each threshold afterwards).
    typed: bool = False


def presets() -> dict[str, EvalConfig]:
    s = SamplerSettings()  # unset: what a user of the checkpoint gets (its family's defaults)
    return {
        "default": EvalConfig("default", s),
        "no-refine": EvalConfig("no-refine", replace(s, refine_rounds=0)),
        "steps-4": EvalConfig("steps-4", replace(s, steps=4)),
        "steps-16": EvalConfig("steps-16", replace(s, steps=16)),
        "threshold": EvalConfig("threshold", replace(s, threshold=0.9)),
        "block-4": EvalConfig("block-4", replace(s, block=4)),  # left to right, 4 tokens at a time (LLaDA's semi-AR)
        "margin": EvalConfig("margin", replace(s, order="margin")),
        "dual-cache": EvalConfig("dual-cache", replace(s, dual_cache=True)),
        "no-cache": EvalConfig("no-cache", replace(s, dual_cache=False)),
        # Room for the longer spans: 144 of the 200 seeded multi-line spans fit 64 tokens (70 fit 32),
        # 130 of the 164 bodies fit 96 (74 fit 48).
        "long-budgets": EvalConfig("long-budgets", s, Budgets(body=(8, 16, 32, 48, 96), lines=(16, 32, 64))),
        "fixed-budget": EvalConfig("fixed-budget", s, Budgets(body=(48,), lines=(32,), line=(16,))),
        "typing": EvalConfig("typing", s, typed=True),  # as typed: the typing profile (compare with default)
        # Block diffusion (DiffusionGemma) only: its two infill strategies, to choose the default by
        # (a masked-diffusion checkpoint refuses them). `--configs instruction,inpainting`.
        "instruction": EvalConfig("instruction", replace(s, infill="instruction")),
        "inpainting": EvalConfig("inpainting", replace(s, infill="inpainting")),
        "canonical": EvalConfig("canonical", oracle="canonical"),
        "empty": EvalConfig("empty", oracle="empty"),
    }


@dataclass(frozen=True)
class Record:
    task: str
    kind: str
    offered: bool
    passed: bool
    status: str
    parses: bool
    exact: bool
    ms: float
    fill: str | None  # the inserted text, None when nothing was offered
    score: float | None = None  # the gate's score of the fill (lsp/fill/gate.py SCORE), as the server gave it
    scores: Scores | None = None  # every score of gate.SCORES, for drawing the curve of another
    trivial: bool = False  # the fill leaves its function trivial (lsp/fill/trivial.py): gated while typing
    # The model's top candidate, cleaned up, parsed in context before any repair or resampling (the
    # server's tree-sitter check, lsp/fill/pipeline.py): issue 17's "raw parse" share. False when
    # nothing was offered, since a top candidate that parses is always offered.
    raw_parses: bool = False


def program(task: Task, filled: str) -> str:
    p = task.problem
    return f"{filled}\n\n{p.test}\n\ncheck({p.entry_point})\n"


def _parses(source: str) -> bool:
    try:
        ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    return True


def _norm(code: str) -> str:
    return " ".join(code.split())


class Judge:
    """Verdicts for filled files; identical programs (the canonical ones, say) run once."""

    def __init__(self) -> None:
        self._seen: dict[str, Verdict] = {}

    def __call__(
        self, task: Task, filled: str | None, ms: float, scores: Scores | None = None, top_parsed: bool = False
    ) -> Record:
        source = task.document if filled is None else filled
        fill_end = len(source) - len(task.document) + task.end
        text = program(task, source)
        if text not in self._seen:
            self._seen[text] = run_program(text)
        verdict = self._seen[text]
        return Record(
            task=task.id,
            kind=task.kind,
            offered=filled is not None,
            passed=verdict.passed,
            status=verdict.status,
            parses=filled is not None and _parses(source),
            exact=filled is not None and _norm(source) == _norm(task.problem.source),
            ms=ms,
            fill=None if filled is None else source[task.cursor : fill_end],
            score=None if scores is None else scores.get(SCORE),
            scores=scores,
            trivial=filled is not None and trivial_source("python", source, task.cursor, fill_end),
            raw_parses=filled is not None and top_parsed,
        )


@dataclass(frozen=True)
class WorkerChoice:
    """The worker that fills for the model configurations, and how long a fill may take."""

    options: WorkerOptions = WorkerOptions()  # model, device, threads
    deadline_ms: int = WorkerSettings.deadline_ms


def _server_options(config: EvalConfig, worker: WorkerChoice) -> dict[str, Any]:
    return {
        "model": worker.options.model,
        "device": worker.options.device,
        "threads": worker.options.threads,
        "sampler": asdict(config.sampler),
        "budgets": {k: list(v) for k, v in asdict(config.budgets).items()},
        "worker": {"deadline_ms": worker.deadline_ms},
        **({"typing": {"gate": 0}, "debounce_ms": 0} if config.typed else {}),
    }


@asynccontextmanager
async def _lsp_filler(config: EvalConfig, worker: WorkerChoice) -> AsyncIterator[tuple[FillFn, GateFn]]:
    async with running_server(_server_options(config, worker)) as client:

        async def fill(task: Task) -> Filled:
            return await _fill_over_lsp(client, task, config.typed)

        async def gate() -> float:  # the model's, not the gate off that a typed configuration runs with
            status = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="fillgap.status"))
            return float((status or {}).get("model_gate") or 0.0)

        yield fill, gate


async def _fill_over_lsp(client: FillgapClient, task: Task, typed: bool = False) -> Filled:
    uri = f"file:///humaneval/{task.id.replace('/', '_').replace(' ', '_')}.py"
    open_doc(client, uri, task.document)
    try:
        pos = position_of(task.document, task.cursor)
        items = await inline(client, uri, pos.line, pos.character, automatic=typed)
    finally:
        close_doc(client, uri)
    if not items:
        return None, None, False
    args = items[0].command.arguments if items[0].command is not None else None
    said = args[1] if args and len(args) > 1 else None  # the server's scores of the fill
    rated = {str(k): float(v) for k, v in said.items()} if isinstance(said, dict) else None
    facts = args[2] if args and len(args) > 2 and isinstance(args[2], dict) else {}
    return apply_item(task.document, items[0]), rated, bool(facts.get("top_parsed"))


@asynccontextmanager
async def _direct_filler(config: EvalConfig, choice: WorkerChoice) -> AsyncIterator[tuple[FillFn, GateFn]]:
    options = choice.options
    worker = WorkerClient(worker_command(options), start_timeout_s(options.model), deadline_ms=choice.deadline_ms)
    try:
        typing = TypingProfile()  # a typed configuration: as lsp/server/suggest.py fills a typed request
        sampler = typing.sampler(config.sampler) if config.typed else config.sampler
        budgets = typing.budgets if config.typed else config.budgets
        profile = "typing" if config.typed else "full"

        async def fill(task: Task) -> Filled:
            gap = find_gap("python", task.document, task.cursor, budgets)
            resample = typing.resample if config.typed else True
            outcome = await fill_gap(worker, "python", task.document, gap, sampler, resample=resample, profile=profile)
            s = outcome.suggestion
            if s is None:
                return None, None, False
            return task.document[: gap.start] + s.text + task.document[gap.end :], all_scores(s), s.top_parsed

        async def gate() -> float:
            return worker.ready.typing_gate if worker.ready is not None else 0.0

        yield fill, gate
    finally:
        await worker.close()


@asynccontextmanager
async def _oracle_filler(config: EvalConfig) -> AsyncIterator[tuple[FillFn, GateFn]]:
    async def fill(task: Task) -> Filled:
        canonical = config.oracle == "canonical"
        return (task.filled(task.truth) if canonical else None), None, canonical

    async def gate() -> float:
        return 0.0

    yield fill, gate


async def run_config(
    config: EvalConfig,
    tasks: list[Task],
    judge: Judge,
    *,
    worker: WorkerChoice = WorkerChoice(),
    direct: bool = False,
    progress: Callable[[Record], None] | None = None,
    said: dict[str, Any] | None = None,
) -> list[Record]:
    """Every task's record; `said`, when given, gets the gate in force for the model
    ("gate": the user's default, typing.gate unset, lsp/fill/gate.py threshold)."""
    if config.oracle:
        filler = _oracle_filler(config)
    elif direct:
        filler = _direct_filler(config, worker)
    else:
        filler = _lsp_filler(config, worker)
    records = []
    async with filler as (fill, gate):
        if tasks and not config.oracle:
            await fill(tasks[0])  # start the worker before the clock runs; the result is discarded
        for task in tasks:
            t0 = time.perf_counter()
            filled, rated, top_parsed = await fill(task)
            record = judge(task, filled, (time.perf_counter() - t0) * 1000, rated, top_parsed)
            records.append(record)
            if progress is not None:
                progress(record)
        if said is not None:
            said["gate"] = threshold(None, await gate())
    return records


def summarize(records: list[Record]) -> dict[str, float]:
    n = len(records)
    if n == 0:
        return {"tasks": 0}
    ms = [r.ms for r in records]
    return {
        "tasks": n,
        "pass@1": sum(r.passed for r in records) / n,
        "offered": sum(r.offered for r in records) / n,
        "parses": sum(r.parses for r in records) / n,
        "raw_parses": sum(r.raw_parses for r in records) / n,
        "exact": sum(r.exact for r in records) / n,
        "mean_ms": statistics.fmean(ms),
        "p95_ms": percentile(ms, 95) or 0.0,  # nearest rank (model.wire.stats); n > 0 here
    }
