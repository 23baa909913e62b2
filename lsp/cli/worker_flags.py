"""The flags `fillgap fill` and `fillgap measure` share: which model, how to sample, how long a fill
may take, and the private worker they make of them. A sampler flag not given is not sent: the
worker uses the checkpoint family's default for it."""

from __future__ import annotations

import argparse

from lsp.worker.client import WorkerClient
from lsp.worker.settings import add_deadline_argument
from model.wire.options import add_model_arguments, start_timeout_s, worker_command
from model.wire.protocol import SamplerSettings
from model.wire.sampling import INFILLS, SAMPLER_DEFAULTS

_UNSET = "default: the model family's (base {})"


def add_fill_arguments(p: argparse.ArgumentParser) -> None:
    d = SAMPLER_DEFAULTS
    add_model_arguments(p)
    p.add_argument("--steps", type=int, default=None, help="parallel unmasking steps; " + _UNSET.format(d["steps"]))
    p.add_argument("--refine-rounds", type=int, default=None, help=_UNSET.format(d["refine_rounds"]))
    p.add_argument(
        "--tau", type=float, default=None, help="re-mask tokens under this confidence; " + _UNSET.format(d["tau"])
    )
    p.add_argument(
        "--dual-cache",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="reuse context keys/values between steps; " + _UNSET.format("off"),
    )
    block = "block diffusion (DiffusionGemma): "
    p.add_argument("--infill", choices=INFILLS, default=None, help=block + _UNSET.format(d["infill"]))
    p.add_argument(
        "--max-denoising-steps",
        type=int,
        default=None,
        help=block + "steps per canvas; default: the checkpoint's (reference {})".format(d["max_denoising_steps"]),
    )
    add_deadline_argument(p)


def sampler(ns: argparse.Namespace) -> SamplerSettings:
    return SamplerSettings(
        steps=ns.steps,
        refine_rounds=ns.refine_rounds,
        tau=ns.tau,
        dual_cache=ns.dual_cache,
        infill=ns.infill,
        max_denoising_steps=ns.max_denoising_steps,
    )


def private_worker(ns: argparse.Namespace) -> WorkerClient:
    """A worker of this command's own (a child process), started at the first fill."""
    command = worker_command(model=ns.model, device=ns.device, threads=ns.threads)
    return WorkerClient(command, start_timeout_s(ns.model), deadline_ms=ns.deadline_ms)
