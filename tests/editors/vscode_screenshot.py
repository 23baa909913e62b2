"""Make editors/vscode/ghost-text.png: VS Code (code-server in headless Chromium) with the .vsix built
from this checkout, `fillgap serve` and the shipped model, an inline suggestion on a placeholder
body — the same file and placeholder as editors/nvim/ghost-text.png, for the README.

    .venv/bin/python -m tests.editors.vscode_screenshot [--out editors/vscode/ghost-text.png] [--vsix FILE]

Installs the harness first if the cache lacks it (tests/editors/vscode_install.py).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from tests.editors.screenshot import ROW, SAMPLE
from tests.editors.vscode_install import ensure
from tests.editors.vscode_session import REPO, build_vsix, vscode_session

SIZE = (1000, 520)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "editors" / "vscode" / "ghost-text.png")
    ap.add_argument("--vsix", type=Path, default=None, help="default: build one from the checkout")
    ns = ap.parse_args()
    tools = ensure()
    root = Path(tempfile.mkdtemp(prefix="fillgap-vscode-shot-"))
    vsix = ns.vsix or build_vsix(root)
    settings = {"workbench.activityBar.location": "hidden", "breadcrumbs.enabled": False}
    with vscode_session(tools, vsix, {"shapes.py": SAMPLE}, settings, root=root / "session", size=SIZE) as code:
        code.open("shapes.py")
        code.press("Control+b")  # the Explorer was only needed to open the file
        code.client_running()
        code.goto(ROW, 5)
        code.command("Trigger Inline Suggestion")
        code.until("the ghost text", code.ghost, 120)
        code.until("the status bar's ready state", lambda: code.status_item().startswith("fillgap "), 60)
        code.screenshot(ns.out.resolve())
    print(f"wrote {ns.out}")


if __name__ == "__main__":
    main()
