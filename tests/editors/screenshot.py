"""Make editors/nvim/ghost-text.png: Neovim 0.12 in tmux, the fillgap plugin and server, an
inline suggestion on screen, the pane captured with its colours and rendered by ansi_png.

    .venv/bin/python -m tests.editors.screenshot [--out editors/nvim/ghost-text.png]

The UI is a real terminal (tmux); the script also attaches to Neovim's RPC socket, only to know
when the suggestion is drawn. Uses its own tmux server (-L), so it leaves other sessions alone.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

from tests.editors.ansi_png import render
from tests.editors.nvim_session import GHOST_NS, INIT, PLUGIN, REPO, nvim_binary, server_binary

COLUMNS, ROWS = 84, 22
SAMPLE = '''"""Plane shapes."""

import math


def circle_area(r):
    """Area of a circle of radius r."""
    ...


def perimeter(w, h):
    """Perimeter of a rectangle."""
    pass
'''
ROW = 8  # the `...` placeholder (1-based)


def wait(what: str, probe, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)
    return value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "editors" / "nvim" / "ghost-text.png")
    ns = ap.parse_args()
    import pynvim

    folder = Path(tempfile.mkdtemp(prefix="fillgap-shot-"))
    source = folder / "shapes.py"
    source.write_text(SAMPLE, encoding="utf-8")
    sock = folder / "nvim.sock"
    tmux = ["tmux", "-L", f"fillgap-shot-{os.getpid()}"]
    env = {
        "FILLGAP_NVIM_PLUGIN": str(PLUGIN),
        "FILLGAP_SERVER": server_binary(),
        # A private worker: it ends with this Neovim, leaving no shared daemon behind.
        "FILLGAP_SETTINGS": '{"threads": 1, "worker": {"mode": "private"}}',
        "XDG_CONFIG_HOME": str(folder / "config"),
        "XDG_STATE_HOME": str(folder / "state"),
        "XDG_DATA_HOME": str(folder / "data"),
    }
    nvim = [nvim_binary() or "nvim", "-u", str(INIT), "-i", "NONE", "-n", "--listen", str(sock)]
    nvim += ["--cmd", "set termguicolors number", str(source)]
    new = [*tmux, "new-session", "-d", "-x", str(COLUMNS), "-y", str(ROWS)]
    for k, v in env.items():
        new += ["-e", f"{k}={v}"]
    subprocess.run([*new, "-e", "TERM=tmux-256color", *nvim], check=True)
    try:
        wait("Neovim's socket", sock.exists, 30)
        nv = pynvim.attach("socket", path=str(sock))
        wait("the fillgap client", lambda: nv.exec_lua("return #vim.lsp.get_clients({ bufnr = 0 })"), 60)
        nv.call("cursor", ROW, 1)
        nv.input("I")  # insert mode on the placeholder: Neovim asks the server on InsertEnter
        ghost_ns = nv.api.create_namespace(GHOST_NS)
        wait("the ghost text", lambda: nv.api.buf_get_extmarks(0, ghost_ns, 0, -1, {}))
        time.sleep(0.5)  # let the terminal UI draw it
        screen = subprocess.run([*tmux, "capture-pane", "-p", "-e"], check=True, capture_output=True, text=True)
        xy = subprocess.run([*tmux, "display", "-p", "#{cursor_x} #{cursor_y}"], capture_output=True, text=True)
        x, y = (int(v) for v in xy.stdout.split())
        render(screen.stdout, ns.out, COLUMNS, cursor=(x, y))
        print(f"wrote {ns.out}")
        nv.command("qall!", async_=True)
        nv.close()
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)


if __name__ == "__main__":
    main()
