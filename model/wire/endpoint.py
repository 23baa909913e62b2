"""Where a shared worker listens, and who may reach it. Standard library only: `lsp/` imports it.

A local worker is a daemon on a Unix socket in a folder only its user can enter:
`$XDG_RUNTIME_DIR/fillgap/` or, without one, `<tmp>/fillgap-<uid>/` (mode 0700). The socket's name
holds a hash of the model, device, dtype and protocol version, so servers configured for another
model (or built for another protocol) start a worker of their own instead of sharing a wrong one.
Next to each socket: `<name>.lock` (held by the live daemon; it stops two from starting) and
`<name>.log` (the daemon's stderr).

A remote worker (a shared GPU box) listens on TCP and wants a token with every connection.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from model.wire.protocol import VERSION

TOKEN_ENV = "FILLGAP_TOKEN"


class EndpointError(RuntimeError):
    """A socket folder or file that is not safely ours, or an address we cannot use."""


@dataclass(frozen=True)
class Address:
    scheme: str  # "unix" or "tcp"
    path: str = ""  # unix
    host: str = ""  # tcp
    port: int = 0

    def __str__(self) -> str:
        return f"unix://{self.path}" if self.scheme == "unix" else f"tcp://{self.host}:{self.port}"


def parse_address(text: str) -> Address:
    """`unix:///run/user/1000/fillgap/x.sock` or `tcp://HOST:PORT` (a bare path means unix)."""
    if text.startswith("unix://"):
        return Address("unix", path=text[len("unix://") :])
    if text.startswith("tcp://"):
        host, sep, port = text[len("tcp://") :].rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise EndpointError(f"expected tcp://HOST:PORT, not {text!r}")
        return Address("tcp", host=host.strip("[]"), port=int(port))
    if "://" in text:
        raise EndpointError(f"unknown address scheme in {text!r} (unix:// or tcp://)")
    return Address("unix", path=text)


def runtime_dir() -> Path:
    """This user's private folder for worker sockets, created 0700 if missing; EndpointError if it
    exists but belongs to someone else or others can enter it."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    folder = Path(base) / "fillgap" if base else Path(tempfile.gettempdir()) / f"fillgap-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
    except FileNotFoundError as exc:  # XDG_RUNTIME_DIR names a folder that is gone
        raise EndpointError(f"cannot create {folder}: {exc}") from exc
    check_private_dir(folder)
    return folder


def check_private_dir(folder: Path) -> None:
    st = os.lstat(folder)
    if not stat.S_ISDIR(st.st_mode):
        raise EndpointError(f"{folder} is not a folder")
    if st.st_uid != os.getuid():
        raise EndpointError(f"{folder} belongs to uid {st.st_uid}, not to this user; refusing to use it")
    if st.st_mode & 0o077:
        raise EndpointError(f"{folder} is open to other users (mode {stat.S_IMODE(st.st_mode):o}); expected 0700")


def check_own_socket(path: Path) -> None:
    """Refuse to talk to a socket someone else put in our folder."""
    st = os.lstat(path)
    if not stat.S_ISSOCK(st.st_mode):
        raise EndpointError(f"{path} is not a socket")
    if st.st_uid != os.getuid():
        raise EndpointError(f"{path} belongs to uid {st.st_uid}, not to this user; refusing to connect")


def worker_key(model: str | None, device: str, dtype: str = "auto") -> str:
    """A short stable name for one worker configuration (model path made absolute)."""
    spec = model or "default"
    if not spec.startswith("hf:") and model:
        spec = os.path.abspath(os.path.expanduser(spec))
    blob = json.dumps([spec, device, dtype, VERSION])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def socket_path(model: str | None, device: str, dtype: str = "auto", folder: Path | None = None) -> Path:
    return (folder or runtime_dir()) / f"worker-{worker_key(model, device, dtype)}.sock"


def lock_path(sock: Path) -> Path:
    return sock.with_suffix(".lock")


def log_path(sock: Path) -> Path:
    return sock.with_suffix(".log")


def progress_path(sock: Path) -> Path:
    """Where a daemon still loading its model keeps its last `Progress` frame (model/serve/daemon.py)."""
    return sock.with_suffix(".progress")


def read_token(token_file: str | None = None) -> str | None:
    """The TCP token: from a file (first line) if given, else $FILLGAP_TOKEN; None when neither."""
    if token_file:
        text = Path(token_file).expanduser().read_text().strip()
        if not text:
            raise EndpointError(f"token file {token_file} is empty")
        return text
    return os.environ.get(TOKEN_ENV) or None
