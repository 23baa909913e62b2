"""The VS Code extension builds from a fresh copy of editors/vscode, as a new clone would: npm ci,
build (tsc + esbuild), lint, unit tests, and a .vsix from @vscode/vsce. Nothing downloads VS Code."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow]

EXTENSION = Path(__file__).resolve().parents[2] / "editors" / "vscode"
BUILT = ("node_modules", "out", "dist", "*.vsix")  # what a fresh clone does not have (.gitignore)
STEPS = [
    ["npm", "ci", "--no-audit", "--no-fund"],
    ["npm", "run", "build"],
    ["npm", "run", "lint"],
    ["npm", "test"],
    ["npx", "vsce", "package", "--out", "fillgap.vsix"],
]


def test_npm_ci_build_lint_test_and_package(tmp_path: Path) -> None:
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: the VS Code extension's build, tests and packaging were not checked")
    work = tmp_path / "vscode"
    shutil.copytree(EXTENSION, work, ignore=shutil.ignore_patterns(*BUILT))
    for step in STEPS:
        done = subprocess.run(step, cwd=work, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, f"{' '.join(step)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        if step[:2] == ["npm", "test"]:
            assert "# fail 0" in done.stdout and "# pass 0" not in done.stdout, done.stdout[-2000:]
    with zipfile.ZipFile(work / "fillgap.vsix") as vsix:
        names = set(vsix.namelist())
        manifest = vsix.read("extension/package.json").decode()
    assert {"extension/package.json", "extension/dist/extension.js", "extension.vsixmanifest"} <= names
    assert not any("node_modules" in n for n in names)  # the bundle inlines vscode-languageclient
    assert '"main": "./dist/extension.js"' in manifest
