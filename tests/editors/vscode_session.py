"""A real VS Code (code-server) with the fillgap .vsix installed, driven in headless Chromium.

code-server serves the workbench on a free loopback port; playwright-core (tests/editors/vscode_driver.mjs,
one JSON line a request) drives the system Chromium on it, so the extension host, vscode-languageclient,
`fillgap serve` and its worker all run for real. Each session has its own HOME, XDG folders, TMPDIR,
profile and extensions folder, and ends every process it started (code-server's and the driver's
process trees: the extension host, the server, its worker, Chromium) with TERM, then KILL.

By hand (opens the file, prints the status bar and the profile folder, waits for Ctrl+C):

    .venv/bin/python -m tests.editors.vscode_session [--vsix editors/vscode/fillgap.vsix] [--file examples/shapes.py]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from tests.editors.vscode_install import Tools
from tests.editors.vscode_processes import (
    Driver,
    DriverError,
    alive,
    descendants,
    free_port,
    kill_strays,
    stop_tree,
    until,
)

REPO = Path(__file__).resolve().parents[2]
EXTENSION = REPO / "editors" / "vscode"
DRIVER = Path(__file__).with_name("vscode_driver.mjs")
T = TypeVar("T")

# Settings a fresh profile gets: the workbench quiet (no welcome page, tips, updates, telemetry),
# the server from this checkout's venv, a private worker that ends with this window.
SETTINGS: dict[str, Any] = {
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "workbench.welcomePage.walkthroughs.openOnInstall": False,
    "workbench.secondarySideBar.defaultVisibility": "hidden",
    "workbench.colorTheme": "Default Dark Modern",
    "chat.disableAIFeatures": True,
    "security.workspace.trust.enabled": False,
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "extensions.autoCheckUpdates": False,
    "extensions.autoUpdate": False,
    "editor.minimap.enabled": False,
    "files.autoSave": "off",
    "fillgap.worker.mode": "private",
    "fillgap.typing.gate": 0,  # every typed suggestion shown: these tests are of the editor, not of the gate
    "fillgap.trace.server": "verbose",
    "typescript.disableAutomaticTypeAcquisition": True,
}


class VSCode:
    """One code-server window on a folder; methods act as a user would (clicks, keys, the palette)."""

    def __init__(self, driver: Driver, root: Path, folder: Path) -> None:
        self.driver = driver
        self.root = root  # this session's temp folder
        self.folder = folder  # the workspace folder the window shows
        self.profile = root / "data"

    # --- page primitives
    def wait(self, selector: str, timeout: float = 30.0, state: str = "visible") -> None:
        self.driver.call("wait", timeout, selector=selector, state=state, timeout=timeout * 1000)

    def click(self, selector: str, timeout: float = 30.0, button: str = "left") -> None:
        self.driver.call("click", timeout, selector=selector, timeout=timeout * 1000, button=button)

    def press(self, key: str) -> None:
        self.driver.call("press", key=key)

    def type(self, text: str) -> None:
        self.driver.call("type", text=text)

    def evaluate(self, fn: str, arg: Any = None) -> Any:
        return self.driver.call("evaluate", fn=fn, arg=arg)

    def screenshot(self, path: Path, selector: str | None = None) -> None:
        self.driver.call("screenshot", path=str(path), selector=selector)

    def until(self, what: str, probe: Callable[[], T], timeout: float, every: float = 0.1) -> T:
        """`until`, and on a timeout a screenshot in the session folder and what the window showed, in the error."""
        try:
            return until(what, probe, timeout, every)
        except TimeoutError as exc:
            shot = self.root / f"timeout-{time.strftime('%H%M%S')}.png"
            try:
                self.screenshot(shot)
                shown = f"status bar {self.status_item()!r}, notifications {self.notifications()}"
            except (DriverError, TimeoutError) as err:
                shown = f"(no screenshot: {err})"
            raise TimeoutError(f"{exc}; {shown}; screenshot {shot}") from None

    # --- the workbench
    def texts(self, selector: str) -> list[str]:
        """innerText of every element matching `selector`."""
        return self.evaluate("(s) => [...document.querySelectorAll(s)].map((e) => e.innerText)", selector)

    def status_item(self) -> str:
        """The fillgap status bar item's text ('' until the extension adds it)."""
        items = [t.strip() for t in self.texts(".statusbar-item") if "fillgap" in t]
        return items[0] if items else ""

    def client_running(self, timeout: float = 60.0) -> str:
        """Wait until the extension's client runs (its providers are registered only then); the status text."""
        return self.until(
            "the fillgap client to start", lambda: (t := self.status_item()) and "starting" not in t and t, timeout
        )

    def cursor(self) -> str:
        """The status bar's 'Ln L, Col C'."""
        found = [t for t in self.texts(".statusbar-item") if t.strip().startswith("Ln ")]
        return found[0].strip() if found else ""

    def open(self, name: str, timeout: float = 30.0) -> None:
        """Click the file's row in the Explorer and wait for its tab to be the active one."""
        self.click(f'.explorer-folders-view .monaco-list-row[aria-label="{name}"]', timeout)
        self.wait(f'.tabs-container .tab.active[data-resource-name="{name}"]', timeout)
        self.wait(".editor-instance .monaco-editor .view-lines", timeout)

    def goto(self, line: int, column: int = 1) -> None:
        """Ctrl+G, 'line:column', Enter; until the status bar shows the cursor there."""
        want = f"Ln {line}, Col {column}"
        for _ in range(3):
            self.press("Control+g")
            self.wait(".quick-input-widget input", 10)
            self.type(f"{line}:{column}")
            self.wait(f'.quick-input-widget .monaco-list-row:has-text("{line}")', 10)
            self.press("Enter")
            try:
                until(f"the cursor at {want}", lambda: self.cursor().startswith(want), 5)
                return
            except TimeoutError:
                self.press("Escape")
        raise TimeoutError(f"could not move the cursor to {want} (status bar: {self.cursor()!r})")

    def command(self, title: str, timeout: float = 30.0) -> None:
        """Run a command by its title ("fillgap: Fill body") from the command palette (F1), clicking its row."""
        self.press("F1")
        self.wait(".quick-input-widget input", 10)
        self.type(title)
        row = ".quick-input-widget .monaco-list-row"
        # The label gains ", recently used" once it has run.
        self.click(f'{row}[aria-label="{title}"], {row}[aria-label^="{title}, "]', timeout)
        self.wait(".quick-input-widget", 10, state="hidden")

    def ghost(self) -> str:
        """The inline suggestion drawn in the active editor ('' when none): its inline part and lines below."""
        ghost = ".ghost-text-decoration, .ghost-text-decoration-preview, .ghost-text"
        parts = self.texts(", ".join(f".editor-instance .monaco-editor {g}" for g in ghost.split(", ")))
        return "\n".join(p for p in parts if p.strip()).replace("\xa0", " ")

    def lines(self) -> list[str]:
        """The active editor's rendered lines, top to bottom (the ones on screen: enough for a short file)."""
        found = self.evaluate(
            """(s) => [...document.querySelectorAll(s)]
                .map((e) => [parseFloat(e.style.top) || 0, e.innerText])
                .sort((a, b) => a[0] - b[0]).map((p) => p[1])""",
            ".editor-instance .monaco-editor .view-lines .view-line",
        )
        return [line.replace("\xa0", " ") for line in found]

    def dirty(self) -> bool:
        """The active editor has unsaved changes (an edit landed)."""
        return bool(self.texts(".tabs-container .tab.active.dirty"))

    def server_log(self) -> str:
        """The extension's output channel (LSP trace with fillgap.trace.server, the server's stderr)."""
        return self.logs("*/exthost*/fillgap.fillgap/fillgap.log")

    def notifications(self) -> list[str]:
        """The notification toasts showing (an extension's error or information messages)."""
        return [t.strip() for t in self.texts(".notifications-toasts .notification-list-item-message") if t.strip()]

    def save(self) -> None:
        self.press("Control+s")
        self.until("the file to be saved", lambda: not self.dirty(), 10)

    def logs(self, pattern: str = "**/*.log") -> str:
        """Every matching log file of this profile (the extension host's, output channels'), concatenated."""
        out = []
        for path in sorted((self.profile / "logs").glob(pattern)):
            try:
                out.append(f"==> {path.relative_to(self.profile)}\n{path.read_text(errors='replace')}")
            except OSError:
                continue
        return "\n".join(out)

    def servers(self) -> list[int]:
        """Process ids of the `fillgap serve` processes this window's extension host runs."""
        found = []
        for pid in descendants(self.code_server_pid):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            exe = [a for a in argv[:2] if a.endswith(b"/fillgap")]
            if exe and b"serve" in argv and alive(pid):
                found.append(pid)
        return found

    code_server_pid = 0


def build_vsix(into: Path) -> Path:
    """The .vsix from this checkout (`npm ci`, `npx vsce package`, as `make vscode` does) in a copy under `into`."""
    work = into / "vscode"
    shutil.copytree(EXTENSION, work, ignore=shutil.ignore_patterns("node_modules", "out", "dist", "*.vsix"))
    for step in (["npm", "ci", "--no-audit", "--no-fund"], ["npx", "vsce", "package", "--out", "fillgap.vsix"]):
        done = subprocess.run(step, cwd=work, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(step)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return work / "fillgap.vsix"


def _env(tools: Tools, root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VSCODE_", "FILLGAP_"))}
    for name in ("home", "config", "data", "cache", "state", "tmp"):
        (root / name).mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(root / "home"),
        XDG_CONFIG_HOME=str(root / "config"),
        XDG_DATA_HOME=str(root / "data-xdg"),
        XDG_CACHE_HOME=str(root / "cache"),
        XDG_STATE_HOME=str(root / "state"),
        XDG_RUNTIME_DIR=str(root / "tmp"),
        TMPDIR=str(root / "tmp"),
    )
    return tools.env(env)


def _server_exe() -> str:
    exe = Path(sys.executable).with_name("fillgap")
    assert exe.is_file(), f"{exe} is missing: install the project (make setup)"
    return str(exe)


def install_vsix(tools: Tools, root: Path, vsix: Path) -> None:
    env = _env(tools, root)
    cmd = [str(tools.node), str(tools.code_server), "--user-data-dir", str(root / "data")]
    cmd += ["--extensions-dir", str(root / "extensions"), "--install-extension", str(vsix)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    if done.returncode != 0 or "fillgap" not in (done.stdout + done.stderr):
        raise RuntimeError(f"--install-extension failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


@contextmanager
def vscode_session(
    tools: Tools,
    vsix: Path,
    files: dict[str, str],
    settings: dict[str, Any] | None = None,
    root: Path | None = None,
    size: tuple[int, int] = (1280, 800),
) -> Iterator[VSCode]:
    """code-server on `files` (written into a fresh workspace) with the .vsix installed, and a page on it."""
    root = root or Path(tempfile.mkdtemp(prefix="fillgap-vscode-"))
    folder = _profile(root, files, settings)
    install_vsix(tools, root, vsix)
    env = _env(tools, root)
    procs: list[subprocess.Popen[Any]] = []
    driver: Driver | None = None
    try:
        server, port = _start_code_server(tools, root, folder, env, procs)
        with open(root / "driver.log", "w") as log:
            page = [str(tools.node), str(DRIVER), str(tools.playwright), str(tools.chromium), str(root / "chromium")]
            procs.append(
                subprocess.Popen(
                    page,
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    text=True,
                    start_new_session=True,
                )
            )
        driver = Driver(procs[-1])
        code = VSCode(driver, root, folder)
        code.code_server_pid = server.pid
        driver.call("launch", 60, url=f"http://127.0.0.1:{port}/?folder={folder}", width=size[0], height=size[1])
        code.wait(".monaco-workbench .part.statusbar", 60)
        code.wait(".explorer-folders-view .monaco-list-row", 60)
        yield code
    finally:
        if driver is not None:
            try:
                driver.call("close", 10)
            except (DriverError, TimeoutError, OSError):
                pass  # the tree is killed below either way
        for proc in reversed(procs):
            stop_tree(proc)
        kill_strays(str(root))


def _profile(root: Path, files: dict[str, str], settings: dict[str, Any] | None) -> Path:
    """The workspace folder with `files`, and the profile's user and machine settings; returns the folder."""
    folder = root / "work"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    user = root / "data" / "User"
    user.mkdir(parents=True, exist_ok=True)
    (user / "settings.json").write_text(json.dumps({**SETTINGS, **(settings or {})}, indent=2))
    # Machine-scoped settings (the server's path) count only from the remote side's Machine folder.
    (root / "data" / "Machine").mkdir(parents=True, exist_ok=True)
    (root / "data" / "Machine" / "settings.json").write_text(json.dumps({"fillgap.server.path": _server_exe()}))
    return folder


def _start_code_server(
    tools: Tools, root: Path, folder: Path, env: dict[str, str], procs: list[subprocess.Popen[Any]]
) -> tuple[subprocess.Popen[Any], int]:
    """code-server on a free loopback port, in a process group of its own (appended to `procs` at once)."""
    port = free_port()
    cmd = [str(tools.node), str(tools.code_server), "--auth", "none", "--bind-addr", f"127.0.0.1:{port}"]
    cmd += ["--reconnection-grace-time", "5", "--disable-telemetry", "--disable-update-check"]
    cmd += ["--disable-workspace-trust", "--user-data-dir", str(root / "data")]
    cmd += ["--extensions-dir", str(root / "extensions"), str(folder)]
    with open(root / "code-server.log", "w") as log:
        server = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    procs.append(server)
    until("code-server's /healthz", lambda: _healthy(port) or server.poll() is not None, 60, 0.2)
    if server.poll() is not None:
        raise RuntimeError(f"code-server exited:\n{(root / 'code-server.log').read_text()[-3000:]}")
    return server, port


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def main() -> None:
    import argparse

    from tests.editors.vscode_install import ensure

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vsix", type=Path, default=None, help="default: build one from the checkout")
    ap.add_argument("--file", type=Path, default=REPO / "examples" / "shapes.py")
    ns = ap.parse_args()
    tools = ensure()
    root = Path(tempfile.mkdtemp(prefix="fillgap-vscode-"))
    vsix = ns.vsix or build_vsix(root)
    with vscode_session(tools, vsix, {ns.file.name: ns.file.read_text()}, root=root) as code:
        code.open(ns.file.name)
        until("the fillgap status bar item", code.status_item, 60)
        print(f"status bar: {code.status_item()!r}\nprofile: {code.profile}\nCtrl+C ends it", flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
