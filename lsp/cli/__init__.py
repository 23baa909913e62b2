"""The `fillgap` command: serve, fill, measure, eval, worker, status, train, bench.

`worker` and `train` run model code and are imported only when asked for, so `serve` and `fill`
never load torch in this process; `bench` runs its model part (`python -m model.bench.decode`) in a child.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from pathlib import Path

from model.wire.protocol import SamplerSettings

MODEL_COMMANDS = {"worker": "model.serve.worker", "train": "model.train.loop"}


def _sampler_args(p: argparse.ArgumentParser) -> None:
    d = SamplerSettings()
    p.add_argument("--model", default=None, help="checkpoint folder (default: the shipped model)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=d.steps, help="parallel unmasking steps")
    p.add_argument("--refine-rounds", type=int, default=d.refine_rounds)
    p.add_argument("--tau", type=float, default=d.tau, help="re-mask tokens under this confidence")
    p.add_argument("--dual-cache", action="store_true", help="reuse context keys/values between steps")


def _sampler(ns: argparse.Namespace) -> SamplerSettings:
    return SamplerSettings(steps=ns.steps, refine_rounds=ns.refine_rounds, tau=ns.tau, dual_cache=ns.dual_cache)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in MODEL_COMMANDS:
        return importlib.import_module(MODEL_COMMANDS[argv[0]]).main(argv[1:]) or 0
    if argv and argv[0] == "eval":
        from lsp.eval.command import main as eval_main

        return eval_main(argv[1:])
    if argv and argv[0] == "status":
        from lsp.cli.status import main as status_main

        return status_main(argv[1:])
    if argv and argv[0] == "bench":
        from lsp.bench.command import main as bench_main

        return bench_main(argv[1:])
    if argv and argv[0] == "bench-lsp":
        from lsp.bench.initialize import main as bench_lsp_main

        return bench_lsp_main(argv[1:])
    p = argparse.ArgumentParser(prog="fillgap", description="Fill gaps in code with a diffusion language model.")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the language server on stdio")
    serve.add_argument("--log-level", default="WARNING")
    fill = sub.add_parser("fill", help="fill the placeholder bodies of files; print a unified diff")
    fill.add_argument("files", nargs="+", type=Path)
    _sampler_args(fill)
    measure = sub.add_parser("measure", help="blank function bodies of files and measure how fills parse")
    measure.add_argument("files", nargs="+", type=Path)
    measure.add_argument("--limit", type=int, default=100, help="bodies to measure (a seeded sample)")
    measure.add_argument("--seed", type=int, default=0)
    measure.add_argument("--budgets", default=None, help="gap length budgets in tokens, e.g. 48 or 8,16,32,48")
    _sampler_args(measure)
    sub.add_parser("eval", help="HumanEval infilling: fill through the server, run the tests (see fillgap eval -h)")
    sub.add_parser("worker", help="hold a model and answer fill requests, on stdio or a socket (fillgap worker -h)")
    sub.add_parser("train", help="train a checkpoint (see fillgap train -h)")
    sub.add_parser("bench", help="throughput vs autoregressive, LSP latency, concurrency, memory (fillgap bench -h)")
    sub.add_parser("status", help="counters of this user's running workers (see fillgap status -h)")
    sub.add_parser("bench-lsp", help="initialize latency of fillgap serve against a bare pygls server")
    ns = p.parse_args(argv)
    if ns.command == "serve":
        from lsp.server.app import main as serve_main

        serve_main(ns.log_level)
        return 0
    from lsp.worker.client import WorkerClient, worker_command

    worker = WorkerClient(worker_command(ns.model, ns.device))
    if ns.command == "measure":
        from lsp.eval import measure as measure_cmd

        budgets = tuple(int(b) for b in ns.budgets.split(",")) if ns.budgets else measure_cmd.BODY_BUDGETS
        return asyncio.run(measure_cmd.run(ns.files, worker, _sampler(ns), ns.limit, ns.seed, budgets))
    from lsp.cli import fill as fill_file

    return fill_file.main(ns.files, worker, _sampler(ns))


if __name__ == "__main__":
    sys.exit(main())
