"""End-to-end numbers for `fillgap bench`: what an editor user waits for, through a real LSP client.

- Cold start: spawn `fillgap serve`, initialize, open a file, ask for a suggestion (Invoked): the
  time to the first suggestion includes starting the worker and loading the model.
- Typing replay: real held-out code, each function body blanked and its first line typed again
  at TYPING_RATE keystrokes a second. Every keystroke is a didChange and an Automatic inline
  request (so the server debounces, and each request supersedes the one before, as in an
  editor); the latency of the request after the last keystroke is what the user waits for.
  It is reported from the end of the debounce to the answer (`typing`: the round trip less the
  server's debounce_ms, which it sleeps once before asking the model; an answer faster than the
  debounce came from the cache without waiting, and counts whole), and as the round trip
  (`typing_with_debounce`), the editor user's wait.
- Invoked fills at placeholder bodies of real files, one at a time: the latency of a fill alone.
(Concurrency, 1, 4 and 16 documents on one worker, is measured at the worker: model/bench/concurrency.py.)
- Memory: resident memory of the server (idle and peak) and the worker (peak), from /proc.

Nothing here asserts a time; `fillgap bench` prints and records.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled

from lsp.eval.client import FillgapClient, open_doc, position_of, running_server
from lsp.eval.measure import BodyCase, body_cases
from lsp.fill.settings import Settings
from model.wire.stats import percentile

TYPING_RATE = 20.0  # keystrokes a second (the reliability issue's load rate; fast typing)
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Plan:
    typing: int  # bodies retyped
    invoked: int  # placeholder bodies filled one at a time


FULL = Plan(typing=100, invoked=20)  # the typing targets hold over at least 100 typing events (issue 17)
QUICK = Plan(typing=2, invoked=2)


def held_out_files() -> list[Path]:
    """The training corpus's held-out files (never trained on), listed by model.train.corpus in a child
    process so this one stays free of model code."""
    out = subprocess.run(
        [sys.executable, "-m", "model.train.corpus", "--split", "held-out"], capture_output=True, text=True, check=True
    )
    return [Path(line) for line in out.stdout.split()]


def cases(n: int, seed: int = 0) -> list[BodyCase]:
    found = [c for p in held_out_files() for c in body_cases(p)]
    random.Random(seed).shuffle(found)
    return found[:n]


def percentiles(values: list[float]) -> dict[str, float]:
    """Count, p50/p95/p99 (nearest rank, `model.wire.stats`) and mean in ms; only the count with none."""
    if not values:
        return {"n": 0}
    at = {f"p{q}_ms": round(percentile(values, q) or 0.0, 1) for q in (50, 95, 99)}
    return {"n": len(values), **at, "mean_ms": round(statistics.fmean(values), 1)}


def memory_kb(pid: int | None, field: str) -> int | None:
    """A /proc/PID/status memory field (VmRSS, VmHWM, ...) in kB; None if the process is gone."""
    if not pid:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _mb(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024, 1)


async def _inline(client: FillgapClient, uri: str, pos: types.Position, automatic: bool) -> tuple[float, int]:
    """Milliseconds to the answer, and how many items it held (-1: superseded by a newer request)."""
    kind = types.InlineCompletionTriggerKind.Automatic if automatic else types.InlineCompletionTriggerKind.Invoked
    t0 = time.perf_counter()
    try:
        result = await client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=pos,
                context=types.InlineCompletionContext(trigger_kind=kind),
            )
        )
    except JsonRpcRequestCancelled:
        return (time.perf_counter() - t0) * 1000, -1
    items = result.items if isinstance(result, types.InlineCompletionList) else result or []
    return (time.perf_counter() - t0) * 1000, len(items)


def _server_pid(client: FillgapClient) -> int | None:
    proc = getattr(client, "_server", None)
    return getattr(proc, "pid", None)


async def _worker_pid(client: FillgapClient) -> int | None:
    status = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="fillgap.status"))
    worker = (status or {}).get("worker_status") or {}
    return worker.get("pid")


async def cold_start(options: dict[str, Any], case: BodyCase) -> dict[str, float]:
    t0 = time.perf_counter()
    async with running_server(options) as client:
        ready = (time.perf_counter() - t0) * 1000
        uri = "file:///bench/cold.py"
        open_doc(client, uri, case.document)
        latency, items = await _inline(client, uri, position_of(case.document, case.gap.end), automatic=False)
        return {"initialize_ms": round(ready, 1), "first_suggestion_ms": round(ready + latency, 1), "offered": items}


async def _retype(client: FillgapClient, case: BodyCase, n: int) -> tuple[float, int, int]:
    """Blank the body, type its first line back a keystroke at a time; the last request's latency."""
    uri = f"file:///bench/typing{n}.py"
    start = case.gap.start
    text = case.document[:start] + case.document[case.gap.end :]
    open_doc(client, uri, text)
    line = case.truth.split("\n", 1)[0]
    pending: list[asyncio.Task[tuple[float, int]]] = []
    for i, ch in enumerate(line, start=1):
        pos = position_of(text, start)
        text = text[:start] + ch + text[start:]
        start += 1
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=i + 1),
                content_changes=[
                    types.TextDocumentContentChangePartial(range=types.Range(start=pos, end=pos), text=ch)
                ],
            )
        )
        pending.append(asyncio.ensure_future(_inline(client, uri, position_of(text, start), automatic=True)))
        await asyncio.sleep(1 / TYPING_RATE)
    results = await asyncio.gather(*pending)
    return results[-1][0], results[-1][1], sum(items < 0 for _, items in results)


def after_debounce(round_trip_ms: float, debounce_ms: float) -> float:
    """The part of an automatic request's round trip after the server's debounce: an answer that
    took less than the debounce never waited for it (the cache answered)."""
    return round_trip_ms - debounce_ms if round_trip_ms >= debounce_ms else round_trip_ms


async def typing_replay(
    client: FillgapClient, sample: list[BodyCase], debounce_ms: float = Settings().debounce_ms
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The typing figures from the end of the debounce, and the round trips with it."""
    latencies, offered, keystrokes, superseded = [], 0, 0, 0
    for n, case in enumerate(sample):
        if not case.truth.split("\n", 1)[0].strip():
            continue
        latency, items, dropped = await _retype(client, case, n)
        latencies.append(latency)
        offered += items > 0
        superseded += dropped
        keystrokes += len(case.truth.split("\n", 1)[0])
    figures = {
        **percentiles([after_debounce(ms, debounce_ms) for ms in latencies]),
        "keystrokes": keystrokes,
        "superseded": superseded,
        "offered": offered,
        "rate_per_s": TYPING_RATE,
        "debounce_ms": debounce_ms,
        "measured_from": "end of the debounce",
    }
    return figures, percentiles(latencies)


async def invoked(client: FillgapClient, sample: list[BodyCase]) -> dict[str, Any]:
    latencies, offered = [], 0
    for n, case in enumerate(sample):
        uri = f"file:///bench/invoked{n}.py"
        open_doc(client, uri, case.document)
        latency, items = await _inline(client, uri, position_of(case.document, case.gap.end), automatic=False)
        latencies.append(latency)
        offered += items > 0
    return {**percentiles(latencies), "offered": offered}


async def run(plan: Plan, threads: int = 0, model: str | None = None, device: str | None = None) -> dict[str, Any]:
    """Every end-to-end measurement, with a private worker (so its process and memory are this run's)
    on `model` and `device` (None: the server's defaults, the shipped model)."""
    options: dict[str, Any] = {"threads": threads, "snippets": "off", "worker": {"mode": "private"}}
    options.update({k: v for k, v in (("model", model), ("device", device)) if v is not None})
    need = plan.typing + plan.invoked + 1
    sample = cases(need)
    cold = await cold_start(options, sample[0])
    async with running_server(options) as client:
        server_pid = _server_pid(client)
        idle_kb = memory_kb(server_pid, "VmRSS")
        first = 1
        typing, with_debounce = await typing_replay(client, sample[first : first + plan.typing])
        first += plan.typing
        alone = await invoked(client, sample[first : first + plan.invoked])
        worker_pid = await _worker_pid(client)
        memory = {
            "server_idle_rss_mb": _mb(idle_kb),
            "server_peak_rss_mb": _mb(memory_kb(server_pid, "VmHWM")),
            "worker_rss_mb": _mb(memory_kb(worker_pid, "VmRSS")),
            "worker_peak_rss_mb": _mb(memory_kb(worker_pid, "VmHWM")),
        }
    return {
        "cold_start": cold,
        "typing": typing,
        "typing_with_debounce": with_debounce,
        "invoked": alone,
        "memory": memory,
    }


def run_sync(plan: Plan, threads: int = 0, model: str | None = None, device: str | None = None) -> dict[str, Any]:
    return asyncio.run(run(plan, threads, model, device))
