"""Run a filled program with its tests, isolated: a child process in a throwaway folder, with a
time limit, resource limits, an empty environment and no network.

No network: where unprivileged user namespaces work (`unshare -rn`), the child runs in a network
namespace of its own with no interfaces; everywhere, a preamble also replaces the socket
constructors before the program runs, so a fill cannot reach out even where namespaces are off.
"""

from __future__ import annotations

import functools
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

TIME_LIMIT_S = 10.0
MEMORY_LIMIT = 2 << 30  # bytes of address space
FILE_LIMIT = 16 << 20  # bytes any one written file may reach

_PREAMBLE = """\
import socket as _socket
def _no_network(*args, **kwargs):
    raise OSError("network access is disabled in fillgap eval")
_socket.socket = _socket.create_connection = _socket.socketpair = _no_network
del _socket, _no_network
"""


@dataclass(frozen=True)
class Verdict:
    passed: bool
    status: str  # "passed", "failed", "timeout"
    detail: str  # the last line of stderr, for a failure


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))
    cpu = int(TIME_LIMIT_S) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.setsid()  # its own process group, so a timeout kills whatever it started


@functools.cache
def _isolation_prefix() -> tuple[str, ...]:
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    try:
        ok = subprocess.run([unshare, "-rn", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return (unshare, "-rn") if ok else ()


def network_isolated() -> bool:
    """Whether programs run in a network namespace of their own (besides the socket preamble)."""
    return bool(_isolation_prefix())


def run_program(source: str, timeout: float = TIME_LIMIT_S) -> Verdict:
    """Run `source` as a script; it passes when it exits with status 0."""
    with tempfile.TemporaryDirectory(prefix="fillgap-eval-") as folder:
        path = os.path.join(folder, "program.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(_PREAMBLE + source)
        cmd = [*_isolation_prefix(), sys.executable, "-I", "-B", path]
        env = {"PATH": "/usr/bin:/bin", "HOME": folder, "TMPDIR": folder, "PYTHONHASHSEED": "0"}
        proc = subprocess.Popen(
            cmd,
            cwd=folder,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_limits,
        )
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.communicate()
            return Verdict(False, "timeout", f"over {timeout:g} s")
    if proc.returncode == 0:
        return Verdict(True, "passed", "")
    tail = err.decode("utf-8", "replace").strip().splitlines()
    return Verdict(False, "failed", tail[-1][:200] if tail else f"exit status {proc.returncode}")
