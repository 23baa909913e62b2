"""The `fillgap` command as a user runs it: real processes, the shipped model."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lsp.fill.gaps import placeholder_gaps
from lsp.fill.syntax import error_nodes, parse

REPO = Path(__file__).resolve().parents[3]


def _fillgap(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lsp.cli", *args], capture_output=True, text=True, timeout=600, cwd=REPO
    )


def _apply_diff(before: str, diff: str, tmp: Path) -> str:
    target = tmp / "file.py"
    target.write_text(before)
    patch = tmp / "change.diff"
    patch.write_text(diff)
    subprocess.run(["patch", "-s", str(target), str(patch)], check=True)
    return target.read_text()


@pytest.mark.slow
def test_fill_prints_a_diff_that_fills_the_sample_and_parses(tmp_path: Path) -> None:
    sample = REPO / "examples" / "shapes.py"
    before = sample.read_text()
    proc = _fillgap("fill", str(sample))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("--- a/")
    after = _apply_diff(before, proc.stdout, tmp_path)
    assert sample.read_text() == before  # the file itself is never written
    assert not error_nodes(parse("python", after), "python")
    ast.parse(after)  # CPython's own parser agrees
    assert len(placeholder_gaps("python", after)) < len(placeholder_gaps("python", before))
    assert "placeholder bodies filled" in proc.stderr


@pytest.mark.slow
def test_measure_reports_parse_shares() -> None:
    proc = _fillgap("measure", str(REPO / "model" / "train" / "corpus.py"), "--limit", "3")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["cases"] == 3
    assert 0 <= report["raw_parses"] <= 1 and 0 <= report["offered"] <= 1


def test_fill_refuses_an_unknown_file_type(tmp_path: Path) -> None:
    odd = tmp_path / "notes.cobol"
    odd.write_text("IDENTIFICATION DIVISION.\n")
    proc = _fillgap("fill", str(odd))
    assert proc.returncode != 0 and "no grammar" in proc.stderr


def test_the_server_side_never_imports_torch() -> None:
    code = "import sys, lsp.server.app, lsp.cli, lsp.cli.fill, lsp.eval.measure; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_bench_lsp_times_both_servers_in_one_run() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "lsp.cli", "bench-lsp", "--repeats", "1"], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["bare_pygls_s"] > 0 and report["fillgap_s"] > 0
    assert report["difference_s"] == pytest.approx(report["fillgap_s"] - report["bare_pygls_s"], abs=2e-3)


def test_help_lists_every_subcommand_and_each_has_its_own(capsys: pytest.CaptureFixture[str]) -> None:
    from lsp.cli import COMMANDS, main

    with pytest.raises(SystemExit) as done:
        main(["-h"])
    listing = capsys.readouterr().out
    assert done.value.code == 0
    for name, command in COMMANDS.items():
        assert name in listing and command.help.split()[0] in listing
    for name in COMMANDS:
        with pytest.raises(SystemExit) as done:
            main([name, "-h"])
        assert done.value.code == 0, name
        assert f"usage: fillgap {name}" in capsys.readouterr().out


def test_fill_and_measure_take_the_one_deadline_default() -> None:
    import argparse

    from lsp.cli import fill, measure
    from lsp.worker.client import WorkerClient
    from lsp.worker.settings import WorkerSettings

    for module in (fill, measure):
        p = argparse.ArgumentParser()
        module.add_arguments(p)
        assert p.parse_args(["x.py"]).deadline_ms == WorkerSettings().deadline_ms == 30_000
        assert p.parse_args(["x.py", "--deadline-ms", "120000"]).deadline_ms == 120_000
        with pytest.raises(SystemExit):
            p.parse_args(["x.py", "--deadline-ms", "5"])
    assert WorkerClient(["true"]).deadline_ms == WorkerSettings().deadline_ms


def test_sampler_flags_not_given_are_not_sent_and_the_device_is_auto() -> None:
    """`fillgap fill` sends only the sampler flags given (the rest is the model family's); the
    private worker it starts chooses its device, and waits as long as its checkpoint needs."""
    import argparse

    from lsp.cli import fill, measure, worker_flags
    from model.wire.options import start_timeout_s
    from model.wire.protocol import SamplerSettings

    for module in (fill, measure):
        p = argparse.ArgumentParser()
        module.add_arguments(p)
        ns = p.parse_args(["x.py"])
        assert worker_flags.sampler(ns) == SamplerSettings() and ns.device == "auto"
        ns = p.parse_args(["x.py", "--steps", "4", "--tau", "0.5", "--no-dual-cache"])
        assert worker_flags.sampler(ns) == SamplerSettings(steps=4, tau=0.5, dual_cache=False)
        assert worker_flags.sampler(p.parse_args(["x.py", "--dual-cache"])).dual_cache is True
        block = p.parse_args(["x.py", "--infill", "inpainting", "--max-denoising-steps", "24"])
        assert worker_flags.sampler(block) == SamplerSettings(infill="inpainting", max_denoising_steps=24)
        worker = worker_flags.private_worker(
            p.parse_args(["x.py", "--model", str(REPO / "model/checkpoints/fillgap-small")])
        )
        assert worker.start_timeout == start_timeout_s(str(REPO / "model/checkpoints/fillgap-small"))
        assert "--device" not in worker.connector.command  # type: ignore[attr-defined]  # auto: the worker's default


def test_serve_takes_the_stdio_flag_that_lsp_clients_append() -> None:
    # vscode-languageclient's TransportKind.stdio, and most generic LSP clients, append --stdio.
    def frame(body: dict[str, object]) -> bytes:
        data = json.dumps(body).encode()
        return b"Content-Length: %d\r\n\r\n" % len(data) + data

    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"processId": None, "capabilities": {}}},
        {"jsonrpc": "2.0", "method": "initialized", "params": {}},
        {"jsonrpc": "2.0", "id": 2, "method": "shutdown"},
        {"jsonrpc": "2.0", "method": "exit"},
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "lsp.cli", "serve", "--stdio"],
        input=b"".join(frame(m) for m in messages),
        capture_output=True,
        timeout=60,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    bodies = [json.loads(part.split(b"\r\n\r\n", 1)[1]) for part in proc.stdout.split(b"Content-Length: ")[1:]]
    answer = next(b for b in bodies if b.get("id") == 1)
    assert "inlineCompletionProvider" in answer["result"]["capabilities"]
    assert any(b.get("id") == 2 and "result" in b for b in bodies)
