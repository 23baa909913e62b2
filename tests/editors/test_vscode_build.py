"""The VS Code extension builds from a fresh copy of editors/vscode, as a new clone would: npm ci,
build (tsc + esbuild), lint, unit tests, and a .vsix from @vscode/vsce. Nothing downloads VS Code."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import zipfile
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from lsp.fill.syntax import LANGUAGES
from model.wire.sampling import SamplerSettings

EXTENSION = Path(__file__).resolve().parents[2] / "editors" / "vscode"
BUILT = ("node_modules", "out", "dist", "*.vsix")  # what a fresh clone does not have (.gitignore)
STEPS = [
    ["npm", "ci", "--no-audit", "--no-fund"],
    ["npm", "run", "build"],
    ["npm", "run", "lint"],
    ["npm", "test"],
    ["npx", "vsce", "package", "--out", "fillgap.vsix"],
]


@pytest.mark.slow
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


def _manifest() -> dict[str, Any]:
    return json.loads((EXTENSION / "package.json").read_text())


def test_the_extension_activates_for_every_language_the_server_fills() -> None:
    manifest = _manifest()
    activation = {e.removeprefix("onLanguage:") for e in manifest["activationEvents"] if e.startswith("onLanguage:")}
    default = manifest["contributes"]["configuration"]["properties"]["fillgap.languages"]["default"]
    assert activation == set(LANGUAGES) and set(default) == set(LANGUAGES)


def test_every_sampler_setting_names_a_wire_field_and_is_unset_by_default() -> None:
    properties = _manifest()["contributes"]["configuration"]["properties"]
    sampler = {k.removeprefix("fillgap.sampler."): v for k, v in properties.items() if k.startswith("fillgap.sampler.")}
    wire = {f.name for f in fields(SamplerSettings)}
    for name, spec in sampler.items():
        assert re.sub(r"([A-Z])", r"_\1", name).lower() in wire, name
        assert spec["default"] is None, name  # a default would override the model family's own
    assert {"entropyBound", "tMax", "tMin", "maxDenoisingSteps", "infill"} <= set(sampler)
