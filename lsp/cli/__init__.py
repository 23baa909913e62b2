"""The `fillgap` command: one table from subcommand to module, one module per subcommand.

A subcommand's module either declares its flags and runs (`add_arguments(parser)`, `run(ns)`) or
owns its parser (`main(argv)`). Modules are imported by name only when their subcommand runs, so
`serve` and `fill` never load torch in this process, and `fillgap -h` loads nothing.

May import: the standard library, the rest of `lsp`, and `model.wire`. The table names `model`
modules (`worker`, `train`, `cluster`) as strings: loading them for their own subcommand is this package's
one use of importlib, and the one place `lsp` reaches model code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    module: str
    help: str


COMMANDS = {
    "serve": Command("lsp.cli.serve", "run the language server on stdio"),
    "fill": Command("lsp.cli.fill", "fill the placeholder bodies of files; print a unified diff"),
    "measure": Command("lsp.cli.measure", "blank function bodies of files and measure how fills parse"),
    "eval": Command("lsp.eval.command", "HumanEval infilling: fill through the server, run the tests"),
    "worker": Command("model.serve.worker", "hold a model and answer fill requests, on stdio or a socket"),
    "train": Command("model.train.cli", "train a checkpoint"),
    "cluster": Command("model.cluster.cli", "serve workers on a Ray Serve cluster: up, down"),
    "bench": Command("lsp.bench.command", "throughput vs autoregressive, LSP latency, concurrency, memory"),
    "status": Command("lsp.cli.status", "counters of this user's running workers"),
    "bench-lsp": Command("lsp.bench.initialize", "initialize latency of fillgap serve against a bare pygls server"),
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fillgap", description="Fill gaps in code with a diffusion language model.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        sub.add_parser(name, help=command.help, add_help=False)
    return p


def run_command(name: str, argv: list[str]) -> int:
    """Run subcommand `name` with its own arguments."""
    command = COMMANDS[name]
    module = importlib.import_module(command.module)
    if hasattr(module, "add_arguments") and hasattr(module, "run"):
        p = argparse.ArgumentParser(prog=f"fillgap {name}", description=command.help)
        module.add_arguments(p)
        return module.run(p.parse_args(argv)) or 0
    return module.main(argv) or 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in COMMANDS:
        return run_command(argv[0], argv[1:])
    _parser().parse_args(argv)  # help, or the error naming the choices; either way it exits
    return 2


if __name__ == "__main__":
    sys.exit(main())
