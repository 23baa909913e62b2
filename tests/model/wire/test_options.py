"""The worker's options are declared once: the parser reads the fields, the command builder
writes only what differs, and the worker reads back exactly what was built."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from model.wire.options import (
    WorkerOptions,
    add_model_arguments,
    add_worker_arguments,
    from_namespace,
    worker_command,
)


def _parse(argv: list[str]) -> WorkerOptions:
    p = argparse.ArgumentParser()
    add_worker_arguments(p)
    return from_namespace(p.parse_args(argv))


def test_the_parser_defaults_are_the_fields() -> None:
    assert _parse([]) == WorkerOptions()
    p = argparse.ArgumentParser()
    add_model_arguments(p)
    ns = p.parse_args([])
    assert (ns.model, ns.device, ns.threads) == (None, "auto", 0)
    assert set(vars(ns)) == {"model", "device", "threads"}


def test_the_command_round_trips_through_the_worker_parser() -> None:
    chosen = WorkerOptions(
        model="ckpt", device="cuda:1", threads=2, dtype="bfloat16", listen=("auto", "tcp://h:9"),
        idle_timeout=600, token_file="/t", max_batch_rows=8, context_tokens=2048,
        device_map="auto", max_memory="0=20GiB,cpu=64GiB", quantize="fp8",
    )  # fmt: skip
    cmd = worker_command(chosen)
    assert cmd[:3] == [sys.executable, "-m", "model.serve.worker"]
    assert _parse(cmd[3:]) == chosen
    assert len(fields(WorkerOptions)) == 12  # every option is set above, so each round-trips


def test_defaults_need_no_flags() -> None:
    assert worker_command() == [sys.executable, "-m", "model.serve.worker"]
    assert worker_command(threads=1) == [sys.executable, "-m", "model.serve.worker", "--threads", "1"]
    assert worker_command(WorkerOptions(device="cuda"), model="m")[3:] == ["--model", "m", "--device", "cuda"]
