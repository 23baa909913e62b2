"""The flags `fillgap fill` and `fillgap measure` share: which model, how to sample, how long a fill
may take, and the private worker they make of them."""

from __future__ import annotations

import argparse

from lsp.worker.client import WorkerClient
from lsp.worker.settings import add_deadline_argument
from model.wire.options import add_model_arguments, worker_command
from model.wire.protocol import SamplerSettings


def add_fill_arguments(p: argparse.ArgumentParser) -> None:
    d = SamplerSettings()
    add_model_arguments(p)
    p.add_argument("--steps", type=int, default=d.steps, help="parallel unmasking steps")
    p.add_argument("--refine-rounds", type=int, default=d.refine_rounds)
    p.add_argument("--tau", type=float, default=d.tau, help="re-mask tokens under this confidence")
    p.add_argument("--dual-cache", action="store_true", help="reuse context keys/values between steps")
    add_deadline_argument(p)


def sampler(ns: argparse.Namespace) -> SamplerSettings:
    return SamplerSettings(steps=ns.steps, refine_rounds=ns.refine_rounds, tau=ns.tau, dual_cache=ns.dual_cache)


def private_worker(ns: argparse.Namespace) -> WorkerClient:
    """A worker of this command's own (a child process), started at the first fill."""
    command = worker_command(model=ns.model, device=ns.device, threads=ns.threads)
    return WorkerClient(command, deadline_ms=ns.deadline_ms)
