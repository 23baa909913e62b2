"""A Ray cluster on this machine's loopback only, for the tests and the load bench: `ray start --head`
in a folder of its own, every port on 127.0.0.1, no dashboard, no usage report, stopped (with all
its processes, and only its) on exit.

By default Ray takes the machine's outward address even when told 127.0.0.1 (`ray start` resolves
loopback to it) and reports usage to a public host. `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0` makes it
keep loopback (it is how Ray runs single-node on a laptop); `RAY_USAGE_STATS_ENABLED=0` and
`--disable-usage-stats` keep the report at home. Every process that talks to this cluster needs the
same environment (`env`). `listeners` says what its processes listen on, for the test that checks.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalCluster:
    def __init__(self, cpus: int = 8) -> None:
        """`cpus`: Ray's logical CPUs (its scheduling share, not cores): replicas ask for a share each."""
        self.cpus = cpus
        # Short: Ray's Unix socket paths under it must stay within 107 bytes.
        self.folder = Path(tempfile.mkdtemp(prefix="fgray-", dir="/tmp"))
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = {**os.environ, **LOOPBACK_ENV}

    def start(self) -> LocalCluster:
        ray = Path(sys.executable).with_name("ray")
        ports = {"--ray-client-server-port": free_port(), "--dashboard-agent-listen-port": free_port()}
        cmd = [
            str(ray), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={self.port}",
            "--include-dashboard=false", "--disable-usage-stats", f"--num-cpus={self.cpus}",
            f"--temp-dir={self.folder}", *(f"{flag}={port}" for flag, port in ports.items()),
        ]  # fmt: skip
        subprocess.run(cmd, env=self.env, check=True, capture_output=True, timeout=120)
        return self

    def processes(self) -> list[int]:
        """This cluster's processes: those started naming its folder, and all they started."""
        parents: dict[int, int] = {}
        roots = set()
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                stat = (proc / "stat").read_text()
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            parents[int(proc.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            if str(self.folder).encode() in cmdline:
                roots.add(int(proc.name))
        ours, grew = set(roots), True
        while grew:
            more = {pid for pid, parent in parents.items() if parent in ours} - ours
            ours |= more
            grew = bool(more)
        return sorted(ours - {os.getpid()})

    def listeners(self) -> dict[int, list[str]]:
        """For each of its processes, the TCP addresses it listens on ("127.0.0.1:6379", "[::]:40000")."""
        listening = _listening_sockets()
        found: dict[int, list[str]] = {}
        for pid in self.processes():
            try:
                links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
            except OSError:
                continue
            addresses = [listening[link] for link in links if link in listening]
            if addresses:
                found[pid] = addresses
        return found

    def stop(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in self.processes():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            until = time.monotonic() + 5
            while self.processes() and time.monotonic() < until:
                time.sleep(0.2)
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def _listening_sockets() -> dict[str, str]:
    """socket:[inode] -> "host:port" for every listening TCP socket of this machine."""
    found = {}
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] != "0A":  # TCP_LISTEN
                continue
            host_hex, port_hex = cols[1].split(":")
            found[f"socket:[{cols[9]}]"] = f"{_host(host_hex, v6)}:{int(port_hex, 16)}"
    return found


def _host(hex_address: str, v6: bool) -> str:
    raw = bytes.fromhex(hex_address)
    if not v6:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))  # /proc prints each 32-bit word host-endian
    return f"[{socket.inet_ntop(socket.AF_INET6, words)}]"
