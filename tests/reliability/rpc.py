"""A raw JSON-RPC client for `fillgap serve`: bytes in, frames out, nothing checked on the way.

pygls's own client will not send a malformed frame, so this one writes whatever it is given to the
server's stdin and reads every frame the server writes back on a thread of its own. The server's
requests to the client (work-done progress, workspace/applyEdit) are answered so it never waits
on us; its notifications (window/showMessage, window/logMessage) are kept in order.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from lsprotocol import converters, types

from lsp.bench.e2e import memory_kb

REPO = Path(__file__).resolve().parents[2]
CONVERTER = converters.get_converter()


def frame(body: bytes | str) -> bytes:
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    return b"Content-Length: %d\r\n\r\n" % len(data) + data


def message(obj: dict[str, Any]) -> bytes:
    # ensure_ascii: a lone surrogate travels as a \udxxx escape, as a JSON encoder in an editor writes it
    return frame(json.dumps(obj, ensure_ascii=True))


class ServerDied(AssertionError):
    pass


class RawServer:
    """`fillgap serve` as a subprocess; stderr goes to a file so a test can read the server's log."""

    def __init__(self, stderr_path: Path, log_level: str = "WARNING", env: dict[str, str] | None = None) -> None:
        self.stderr_path = stderr_path
        self._stderr = stderr_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lsp.cli", "serve", "--log-level", log_level],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=REPO,
            env={**os.environ, **(env or {})},
        )
        self.ids = itertools.count(1)
        self.responses: dict[Any, dict[str, Any]] = {}
        self.notifications: list[dict[str, Any]] = []
        self.server_requests: list[dict[str, Any]] = []
        self.unparsable: list[bytes] = []  # frames from the server that were not JSON (must stay empty)
        self.cond = threading.Condition()
        self.write_lock = threading.Lock()
        self.apply_edit_result = True
        self.reader = threading.Thread(target=self._read, daemon=True, name="raw-rpc-reader")
        self.reader.start()

    # --- the wire ---
    def send(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        with self.write_lock:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    with self.cond:
                        self.cond.notify_all()
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii", "replace").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if length is None:
                continue
            body = out.read(length)
            try:
                msg = json.loads(body)
            except ValueError:
                with self.cond:
                    self.unparsable.append(body)
                continue
            self._dispatch(msg)

    def _dispatch(self, msg: dict[str, Any]) -> None:
        if "method" in msg and "id" in msg:  # the server asks us something
            with self.cond:
                self.server_requests.append(msg)
            result: Any = None
            if msg["method"] == "workspace/applyEdit":
                result = {"applied": self.apply_edit_result}
            self.send(message({"jsonrpc": "2.0", "id": msg["id"], "result": result}))
            return
        with self.cond:
            if "method" in msg:
                self.notifications.append(msg)
            else:
                self.responses[msg.get("id")] = msg
            self.cond.notify_all()

    # --- requests ---
    def alive(self) -> bool:
        return self.proc.poll() is None

    def request_raw(self, method: Any, params: Any, msg_id: Any = None) -> Any:
        msg_id = next(self.ids) if msg_id is None else msg_id
        obj: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not ...:
            obj["params"] = params
        self.send(message(obj))
        return msg_id

    def wait(self, msg_id: Any, timeout: float = 120.0) -> dict[str, Any]:
        until = time.monotonic() + timeout
        with self.cond:
            while msg_id not in self.responses:
                if not self.alive():
                    raise ServerDied(f"fillgap serve exited with {self.proc.returncode} waiting for {msg_id!r}")
                left = until - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no response to request {msg_id!r} in {timeout:.0f}s")
                self.cond.wait(min(left, 0.5))
            return self.responses.pop(msg_id)

    def call(self, method: str, params: Any, timeout: float = 120.0) -> dict[str, Any]:
        """Send a request and return its whole response (result or error)."""
        return self.wait(self.request_raw(method, params), timeout)

    def result(self, method: str, params: Any, timeout: float = 120.0) -> Any:
        resp = self.call(method, params, timeout)
        if "error" in resp:
            raise AssertionError(f"{method} answered an error: {resp['error']}")
        return resp.get("result")

    def notify(self, method: str, params: Any) -> None:
        self.send(message({"jsonrpc": "2.0", "method": method, "params": params}))

    # --- LSP ---
    def initialize(
        self, options: dict[str, Any] | None = None, capabilities: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        result = self.result(
            "initialize",
            {"processId": os.getpid(), "rootUri": None, "capabilities": capabilities or {},
             "initializationOptions": options or {}},
        )
        self.notify("initialized", {})
        return result

    def open(self, uri: str, text: str, language: str = "python", version: int = 1) -> None:
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": language, "version": version, "text": text}},
        )

    def change(self, uri: str, version: int, changes: list[dict[str, Any]]) -> None:
        self.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                               "contentChanges": changes})

    def inline(self, uri: str, line: int, character: int, automatic: bool = False, timeout: float = 120.0) -> Any:
        return self.call("textDocument/inlineCompletion", inline_params(uri, line, character, automatic), timeout)

    def inline_items(
        self, uri: str, line: int, character: int, timeout: float = 120.0
    ) -> list[types.InlineCompletionItem]:
        resp = self.inline(uri, line, character, timeout=timeout)
        if "error" in resp:
            raise AssertionError(f"inlineCompletion answered an error: {resp['error']}")
        result = CONVERTER.structure(resp["result"], types.InlineCompletionList)
        return list(result.items)

    def status(self) -> dict[str, Any]:
        return self.result("workspace/executeCommand", {"command": "fillgap.status", "arguments": []})

    def messages(self, method: str = "window/showMessage") -> list[str]:
        with self.cond:
            return [n["params"]["message"] for n in self.notifications if n.get("method") == method]

    def close(self, timeout: float = 20.0) -> int:
        """Shut down politely; kill if it does not go. Returns the exit status."""
        if self.alive():
            try:
                self.wait(self.request_raw("shutdown", None), timeout)
                self.send(message({"jsonrpc": "2.0", "method": "exit"}))
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(timeout)
            except (TimeoutError, ServerDied, OSError, subprocess.TimeoutExpired):
                self.proc.kill()
        code = self.proc.wait()
        self._stderr.close()
        return code

    def stderr_text(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")


def inline_params(uri: str, line: int, character: int, automatic: bool = False) -> dict[str, Any]:
    return {
        "textDocument": {"uri": uri},
        "position": {"line": line, "character": character},
        "context": {"triggerKind": 2 if automatic else 1},
    }


def rss_kb(pid: int) -> int:
    kb = memory_kb(pid, "VmRSS")
    if kb is None:
        raise RuntimeError(f"no VmRSS for {pid}")
    return kb


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []
