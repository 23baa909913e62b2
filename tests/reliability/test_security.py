"""Security: the worker's socket is private, TCP wants the token, nothing in a document or a fill is
ever executed by the server, the model loader never unpickles, and logs hold no document text."""

from __future__ import annotations

import os
import pickle
import secrets
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from model.checkpoint import DEFAULT_CHECKPOINT
from model.wire.client import Connection, wait_listening
from model.wire.endpoint import Address
from model.wire.options import worker_command
from model.wire.protocol import ErrorReply, Ready
from tests.daemons import daemon_pids
from tests.model.serve.daemon_client import free_port
from tests.reliability.conftest import QUICK, SOAK, record
from tests.reliability.rpc import RawServer

pytestmark = [pytest.mark.slow]


def test_the_shared_worker_socket_is_0600_in_a_0700_folder(
    serve: Callable[..., RawServer], private_worker_sockets: Path
) -> None:
    server = serve()
    server.initialize({**QUICK})  # the default: the shared per-user daemon
    server.open("file:///tmp/sec/a.py", 'def f():\n    """Nothing."""\n    pass\n')
    assert "result" in server.inline("file:///tmp/sec/a.py", 2, 4)
    folder = private_worker_sockets / "fillgap"
    (sock,) = folder.glob("worker-*.sock")
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600 and stat.S_ISSOCK(os.stat(sock).st_mode)
    assert stat.S_IMODE(os.stat(sock.with_suffix(".log")).st_mode) == 0o600
    assert daemon_pids(folder)


def _hello(port: int, token: str) -> object:
    with Connection.open(Address("tcp", host="127.0.0.1", port=port)) as conn:
        return conn.hello(token)


def test_tcp_refuses_a_missing_or_wrong_token(tmp_path: Path, serve: Callable[..., RawServer]) -> None:
    token = secrets.token_hex(16)
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    port = free_port()
    log = (tmp_path / "daemon.log").open("wb")
    command = worker_command(threads=1, listen=(f"tcp://127.0.0.1:{port}",), token_file=str(token_file))
    daemon = subprocess.Popen(command, stdout=log, stderr=log)
    try:
        try:
            wait_listening(Address("tcp", host="127.0.0.1", port=port), 60, lambda: daemon.poll() is not None)
        except RuntimeError:
            raise AssertionError((tmp_path / "daemon.log").read_text()) from None
        refused = [_hello(port, t) for t in ("", "x", token[:-1], token + "0", token.upper())]
        assert all(isinstance(r, ErrorReply) for r in refused), refused
        assert isinstance(_hello(port, token), Ready)
        # Through the server: no token, no model (and a clear message); the token, a fill.
        uri = "file:///tmp/sec/t.py"
        no_token = serve(env={"FILLGAP_TOKEN": ""})
        no_token.initialize({**QUICK, "worker": {"address": f"tcp://127.0.0.1:{port}"}})
        no_token.open(uri, 'def f():\n    """Nothing."""\n    pass\n')
        assert no_token.inline(uri, 2, 4)["result"]["items"] == []
        assert any("model worker unavailable" in m for m in no_token.messages()), no_token.messages()
        with_token = serve()
        with_token.initialize({**QUICK, "worker": {"address": f"tcp://127.0.0.1:{port}",
                                                   "token_file": str(token_file)}})
        with_token.open(uri, 'def f():\n    """Nothing."""\n    pass\n')
        assert "result" in with_token.inline(uri, 2, 4)
        assert with_token.status()["worker"] == "ready"
    finally:
        daemon.kill()
        daemon.wait()
        log.close()
    record("tcp_token", refused=len(refused))


def _payloads(marker: Path) -> list[str]:
    cmd = f"touch {marker}"
    return [
        f"__import__('os').system('{cmd}')",
        f"exec(\"__import__('os').system('{cmd}')\")",
        f"eval(compile(\"__import__('os').system('{cmd}')\", 'x', 'exec'))",
        f"import subprocess; subprocess.run(['touch', '{marker}'])",
        f"open('{marker}', 'w').close()",
        f"import pathlib; pathlib.Path('{marker}').touch()",
    ]


def test_no_document_or_fill_text_is_ever_executed(serve: Callable[..., RawServer], tmp_path: Path) -> None:
    marker = tmp_path / "EXECUTED"
    server = serve()
    server.initialize({**QUICK, "worker": {"mode": "private"}})
    applied: list[object] = []
    uri = "file:///tmp/sec/evil.py"
    n = 0
    for i, payload in enumerate(_payloads(marker)):
        text = (f"{payload}\n\n\ndef run():\n    {payload}\n    pass\n\n\n"
                f"def again():\n    '''{payload}'''\n    ...\n\n\n# {payload}\nx = 1\n")
        server.open(uri, text, version=1)
        items = server.call("textDocument/inlineCompletion", {
            "textDocument": {"uri": uri}, "position": {"line": 5, "character": 4},
            "context": {"triggerKind": 1}})
        assert "result" in items
        actions = server.result("textDocument/codeAction", {
            "textDocument": {"uri": uri}, "range": {"start": {"line": 0, "character": 0},
                                                     "end": {"line": 4, "character": 10}},
            "context": {"diagnostics": []}})
        for action in actions if SOAK or i < 2 else actions[:1]:  # Fill body, Fill all, Rewrite, Refine
            resolved = server.call("codeAction/resolve", action, timeout=300)
            applied.append(resolved.get("result", {}).get("edit"))
            n += 1
        server.call("workspace/executeCommand", {"command": "fillgap.fillAll", "arguments": [uri]}, timeout=300)
        server.call("textDocument/completion", {"textDocument": {"uri": uri},
                                                "position": {"line": 11, "character": 4}}, timeout=300)
        server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        assert not marker.exists(), f"payload {i} ran"
    assert server.alive() and not marker.exists()
    record("never_executed", payloads=len(_payloads(marker)), actions_resolved=n,
           edits=sum(1 for e in applied if e))


def test_the_loader_never_unpickles(serve: Callable[..., RawServer], tmp_path: Path) -> None:
    """A folder with only pickle weights is refused by name; the pickle (which would create a file
    when loaded) is never loaded, and a FIFO among the weights shows no byte of them is even read."""
    marker = tmp_path / "UNPICKLED"

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    folder = tmp_path / "pickled"
    folder.mkdir()
    for name in ("config.json", "tokenizer.json"):
        shutil.copy(DEFAULT_CHECKPOINT / name, folder / name)
    (folder / "model.pt").write_bytes(pickle.dumps(Evil()))
    os.mkfifo(folder / "pytorch_model.bin")  # opening this for reading would block the loader forever
    server = serve()
    server.initialize({**QUICK, "model": str(folder), "worker": {"mode": "private"}})
    uri = "file:///tmp/sec/p.py"
    server.open(uri, 'def f():\n    """Nothing."""\n    pass\n')
    assert server.inline(uri, 2, 4, timeout=120)["result"]["items"] == []
    shown = [m for m in server.messages() if "model worker unavailable" in m]
    assert len(shown) == 1 and "pickle" in shown[0] and "never unpickles" in shown[0], server.messages()
    assert not marker.exists()
    record("no_unpickling", message=shown[0])


def test_logs_hold_no_document_text(serve: Callable[..., RawServer], private_worker_sockets: Path) -> None:
    """A marker in the document is nowhere in the server's stderr or the daemon's log, after fills,
    actions, errors and malformed messages at the default log level (INFO for the daemon)."""
    marker = "zq" + secrets.token_hex(8)
    text = (f"{marker}_table = {{'{marker}': 1}}\n\n\ndef {marker}(w, h):\n    \"\"\"{marker}\"\"\"\n    pass\n\n\n"
            f"def other():\n    ...\n")
    server = serve()
    server.initialize({**QUICK})  # shared daemon: it logs to <socket>.log
    uri = "file:///tmp/sec/private.py"  # file names are not document text
    server.open(uri, text)
    server.inline(uri, 5, 4)
    server.change(uri, 2, [{"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
                            "text": f"# {marker}\n"}])
    actions = server.result("textDocument/codeAction", {
        "textDocument": {"uri": uri}, "context": {"diagnostics": []},
        "range": {"start": {"line": 4, "character": 0}, "end": {"line": 7, "character": 0}}})
    for action in actions:
        server.call("codeAction/resolve", action, timeout=300)
    # Errors that carry document text in their params:
    server.call("codeAction/resolve", {"title": marker, "data": {"uri": uri, "version": 1, "action": "body",
                                                                 "start": 0, "end": 4}})
    server.call("textDocument/inlineCompletion", {"textDocument": {"uri": uri, "x": marker},
                                                  "position": {"line": -1, "character": marker}})
    server.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": "x"},
                                             "contentChanges": [{"text": marker, "range": marker}]})
    server.call("workspace/executeCommand", {"command": "fillgap.fillBody", "arguments": [uri, marker]})
    server.send(b"Content-Length: 40\r\n\r\n{\"jsonrpc\": \"2.0\", \"method\": \"" + marker.encode() + b"\"")
    server.call("textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 0}})
    server.send(b"Content-Length: 30\r\n\r\n" + f'{{"jsonrpc": "1.0", "id": 1, "p": "{marker}"}}'.encode())
    status = server.status()
    assert server.alive()
    server.close()
    logs = {"server": server.stderr_text()}
    for log in (private_worker_sockets / "fillgap").glob("worker-*.log"):
        logs[log.name] = log.read_text(errors="replace")
    assert any(logs.values())  # something was logged: the check is not vacuous
    leaked = [name for name, body in logs.items() if marker in body]
    assert not leaked, {name: logs[name][logs[name].index(marker) - 300 :][:600] for name in leaked}
    # ... unless the user asks for it.
    debug = serve()
    debug.initialize({**QUICK, "log_documents": True})
    debug.open(uri, text)
    debug.call("textDocument/inlineCompletion", {"textDocument": {"uri": uri},
                                                 "position": {"line": -1, "character": marker}})
    debug.close()
    assert marker in debug.stderr_text()
    record("log_privacy", logs_checked=len(logs), bytes_checked=sum(len(b) for b in logs.values()),
           suggestions=status["suggestions"])
