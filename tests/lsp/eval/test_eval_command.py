"""`fillgap eval` end to end: fills through the server (and directly), tests run, table, JSON and PNG."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow]


def _eval(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "lsp.cli", "eval", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


def test_eval_reports_pass_at_1_beside_the_harness_bounds(tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    run = _eval("--limit", "2", "--kinds", "single,body", "--configs", "default,canonical,empty", "--out", str(out))
    assert run.returncode == 0, run.stderr
    report = json.loads(out.read_text())
    assert report["path"] == "lsp" and report["task_counts"] == {"single": 1033, "body": 164}
    default = report["results"]["default"]
    assert default["single"]["tasks"] == 2 and 0.0 <= default["body"]["pass@1"] <= 1.0
    assert report["results"]["canonical"]["single"]["pass@1"] == 1.0
    assert report["results"]["empty"]["body"]["pass@1"] == 0.0
    assert all(r["ms"] > 0 for r in report["configs"]["default"]["records"])
    assert "pass@1" in run.stdout and "Open-dCoder 0.5B" in run.stdout
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The gate's curve, from each fill's score as the server sent it (lsp/eval/gating.py).
    records = [r for r in report["configs"]["default"]["records"] if r["kind"] == "single"]
    off = report["gate"]["default"]["single"]["curve"][0]
    assert off["threshold"] == 0 and off["shown"] == sum(r["offered"] for r in records)
    assert all(0 <= r["score"] <= 1 for r in records if r["offered"]) and "gate curve" in run.stdout
    # The raw parse share: the top candidate as written, from what the server said of each item.
    assert default["single"]["raw_parses"] <= default["single"]["offered"]
    assert all(r["offered"] for r in records if r["raw_parses"]) and " raw " in run.stdout
    merged = tmp_path / "merged.json"  # a merge recomputes the curve from the records
    assert _eval("--merge", str(out), "--out", str(merged)).returncode == 0
    assert json.loads(merged.read_text())["gate"] == report["gate"]

    direct = tmp_path / "direct.json"
    run = _eval("--limit", "2", "--kinds", "body", "--configs", "no-refine", "--direct", "--out", str(direct))
    assert run.returncode == 0, run.stderr
    assert json.loads(direct.read_text())["path"] == "direct"
    mismatch = _eval("--merge", str(out), str(direct), "--out", str(tmp_path / "m.json"))
    assert mismatch.returncode == 2 and "other tasks" in mismatch.stderr


def test_unknown_configuration_is_refused() -> None:
    run = _eval("--configs", "fastest")
    assert run.returncode != 0 and "unknown configuration" in run.stderr
