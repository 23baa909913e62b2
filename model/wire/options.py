"""`fillgap worker`'s options, declared once: the defaults, the flags, and the command that starts one.

`WorkerOptions`' fields are the defaults. `add_worker_arguments` declares the worker's flags from
them (the worker's own parser uses it), `add_model_arguments` the three every command that runs a
model shares (`--model`, `--device`, `--threads`), and `worker_command` is the one command line
that starts a worker, used by the server's connectors, the benches and the tests. Standard library
only: `lsp/` imports it.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import Field, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

WORKER_MODULE = "model.serve.worker"
DTYPES = ("auto", "float32", "bfloat16", "float16")


def _option(default: Any, help: str, **flag: Any) -> Any:
    """A field whose default is the flag's; `flag` holds further add_argument keywords."""
    return field(default=default, metadata={"help": help, "type": type(default), **flag})


@dataclass(frozen=True)
class WorkerOptions:
    model: str | None = _option(None, "checkpoint folder (HF layout); default: the shipped model", type=str)
    device: str = _option("auto", "torch device: auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:1, mps")
    threads: int = _option(0, "torch threads (0: torch's default)")
    dtype: str = _option(
        "auto",
        "weights and activations (auto: bfloat16 on CUDA and, for our models, on a CPU with AMX or AVX-512 BF16; "
        "float32 elsewhere)",
        choices=DTYPES,
    )
    context_tokens: int = _option(0, "longest window a fill is fitted to, in tokens (0: the model's training context)")
    listen: tuple[str, ...] = _option(
        (), "serve as a daemon at unix://PATH, tcp://HOST:PORT or auto (the per-user socket); repeatable"
    )
    idle_timeout: float = _option(0.0, "daemon: exit after this many seconds idle (0: never)")
    token_file: str | None = _option(None, "TCP: the token clients must send (else $FILLGAP_TOKEN)", type=str)
    max_batch_rows: int = _option(64, "rows (one per length budget) per forward pass")
    # DiffusionGemma (block diffusion) only: passed to transformers (model/gemma_load.py)
    device_map: str = _option("", "spread the weights over devices, as transformers' device_map (auto, balanced, ...)")
    max_memory: str = _option("", "with --device-map: the most each device holds, e.g. 0=20GiB,1=20GiB,cpu=64GiB")
    quantize: str = _option(
        "", "load quantized: fp8 (experts too; CUDA 8.9+) or bnb-8bit / bnb-4bit (nn.Linear only)",
        choices=("", "fp8", "bnb-8bit", "bnb-4bit"),
    )


MODEL_FIELDS = ("model", "device", "threads")

START_TIMEOUT_MIN_S = 120.0  # the shipped model and small checkpoints: load in seconds
START_READ_BYTES_S = 50e6  # a slow disk or a network share; a local SSD reads ten times that
START_TIMEOUT_HUB_S = 1800.0  # `hf:` may download the checkpoint first


def start_timeout_s(model: str | None) -> float:
    """How long a worker may take to load `model` before it counts as failed: sized from its
    safetensors (a 7B bf16 folder, 15 GB: about 6 minutes), never under START_TIMEOUT_MIN_S.
    Only file sizes are read. Servers extend it while the worker reports progress."""
    if model is None:
        return START_TIMEOUT_MIN_S
    if model.startswith("hf:"):
        return START_TIMEOUT_HUB_S
    try:
        weights = sum(p.stat().st_size for p in Path(model).expanduser().glob("*.safetensors"))
    except OSError:
        weights = 0
    return max(START_TIMEOUT_MIN_S, 60.0 + weights / START_READ_BYTES_S)


def _flag(f: Field[Any]) -> str:
    return "--" + f.name.replace("_", "-")


def _declare(parser: argparse.ArgumentParser, f: Field[Any]) -> None:
    if f.name == "listen":  # repeatable; argparse appends to a list, so its default must be one
        parser.add_argument(_flag(f), action="append", default=[], help=f.metadata["help"])
        return
    parser.add_argument(_flag(f), default=f.default, **f.metadata)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """`--model`, `--device`, `--threads`, with the worker's defaults: for every command that runs
    a model or starts a worker."""
    for f in fields(WorkerOptions):
        if f.name in MODEL_FIELDS:
            _declare(parser, f)


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """Every flag of `fillgap worker`."""
    for f in fields(WorkerOptions):
        _declare(parser, f)


def from_namespace(ns: argparse.Namespace) -> WorkerOptions:
    """The options a parser built by `add_worker_arguments` read."""
    values = {f.name: getattr(ns, f.name) for f in fields(WorkerOptions)}
    values["listen"] = tuple(values["listen"])
    return WorkerOptions(**values)


def worker_command(options: WorkerOptions | None = None, /, **changes: Any) -> list[str]:
    """`python -m model.serve.worker` with a flag for every option not at its default (the worker
    reads the same defaults, so the rest need no flag), e.g. `worker_command(device="cuda")`."""
    chosen = replace(options or WorkerOptions(), **changes)
    cmd = [sys.executable, "-m", WORKER_MODULE]
    for f in fields(WorkerOptions):
        value = getattr(chosen, f.name)
        if value == f.default:
            continue
        if f.name == "listen":
            for address in value:
                cmd += [_flag(f), address]
        else:
            cmd += [_flag(f), str(value)]
    return cmd
