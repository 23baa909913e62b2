"""Protocol fuzzing: hypothesis writes JSON-RPC (and worse) to `fillgap serve`'s stdin.

Every request with a usable id gets exactly one response, a result or a JSON-RPC error, whatever
came before it on the wire; the process never exits; after the storm a real fill still works.
One server and one real worker serve the whole storm.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability.conftest import QUICK, SOAK, record
from tests.reliability.rpc import RawServer, frame, inline_params, message

pytestmark = [pytest.mark.slow]

AREA = 'def area(w, h):\n    """Area of a rectangle."""\n    pass\n'
OPEN = ["file:///tmp/fz/area.py", "file:///tmp/fz/notes.txt"]
URIS = [*OPEN, "file:///tmp/fz/never-opened.py", "", "not a uri", "file:///" + "a" * 5000, "untitled:Untitled-1"]
METHODS = [
    "textDocument/inlineCompletion",
    "textDocument/completion",
    "textDocument/codeAction",
    "codeAction/resolve",
    "workspace/executeCommand",
    "textDocument/hover",
    "textDocument/definition",
    "$/setTrace",
]
NOTIFICATIONS = ["textDocument/didOpen", "textDocument/didChange", "textDocument/didClose", "$/cancelRequest"]

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63), st.floats(allow_nan=False), st.text(max_size=40)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
numbers = st.one_of(
    st.integers(0, 6), st.integers(-3, -1), st.integers(2**31, 2**40), st.sampled_from([1.5, "3", None])
)
position = st.fixed_dictionaries({"line": numbers, "character": numbers})
uri = st.sampled_from(URIS)


@st.composite
def lsp_params(draw: st.DrawFn, method: str) -> Any:
    """Params shaped for the method, with holes: wrong types, out-of-range positions, odd URIs."""
    doc = {"uri": draw(uri)}
    if method in ("textDocument/inlineCompletion", "textDocument/completion", "textDocument/hover"):
        params: dict[str, Any] = {"textDocument": doc, "position": draw(position)}
        if method == "textDocument/inlineCompletion":
            params["context"] = {"triggerKind": draw(st.sampled_from([1, 2, 3, "x"]))}
    elif method == "textDocument/codeAction":
        params = {"textDocument": doc, "range": {"start": draw(position), "end": draw(position)},
                  "context": {"diagnostics": []}}
    elif method == "codeAction/resolve":
        data = {"uri": draw(uri), "version": draw(numbers), "action": draw(st.sampled_from(["body", "all", "x"])),
                "start": draw(numbers), "end": draw(numbers)}
        params = {"title": "Fill body", "data": draw(st.one_of(st.just(data), json_value))}
    elif method == "workspace/executeCommand":
        command = draw(st.sampled_from(["fillgap.status", "fillgap.fillBody", "fillgap.fillAll", "fillgap.accepted",
                                        "rm -rf /", ""]))
        params = {"command": command, "arguments": draw(st.lists(st.one_of(uri, numbers, json_value), max_size=3))}
    else:
        params = draw(json_value)
    if draw(st.integers(0, 9)) == 0:  # now and then, the params of some other shape altogether
        return draw(json_value)
    return params


@st.composite
def notification(draw: st.DrawFn) -> dict[str, Any]:
    method = draw(st.sampled_from(NOTIFICATIONS))
    target = {"uri": draw(uri), "version": draw(numbers)}
    if method == "textDocument/didOpen":
        params: Any = {"textDocument": {**target, "languageId": draw(st.sampled_from(["python", "go", 7])),
                                        "text": draw(st.text(max_size=200))}}
    elif method == "textDocument/didChange":
        change = draw(st.one_of(
            st.fixed_dictionaries({"range": st.fixed_dictionaries({"start": position, "end": position}),
                                   "text": st.text(max_size=40)}),
            st.fixed_dictionaries({"text": st.text(max_size=200)}),
            json_value,
        ))
        params = {"textDocument": target, "contentChanges": [change]}
    elif method == "textDocument/didClose":
        params = {"textDocument": target}
    else:
        params = {"id": draw(st.one_of(st.integers(1, 10**6), st.text(max_size=8)))}
    return {"jsonrpc": "2.0", "method": method, "params": params}


# Each item: (bytes to write, the id a response must come for, or None, kind for the tally)
Item = tuple[list[bytes], Any, str]


@st.composite
def item(draw: st.DrawFn, ids: Callable[[], int]) -> Item:
    kind = draw(st.sampled_from([
        "request", "request", "request", "unknown-method", "notification", "huge-params", "bad-envelope",
        "odd-id", "garbage-body", "truncated", "length-split", "chunked", "junk-headers", "oversized-length",
    ]))
    msg_id: Any = ids() if draw(st.booleans()) else f"s-{ids()}"
    if kind == "request":
        method = draw(st.sampled_from(METHODS))
        obj = {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": draw(lsp_params(method))}
        return [message(obj)], msg_id, kind
    if kind == "unknown-method":
        obj = {"jsonrpc": "2.0", "id": msg_id, "method": draw(st.text(max_size=30)), "params": draw(json_value)}
        return [message(obj)], msg_id, kind
    if kind == "notification":
        return [message(draw(notification()))], None, kind
    if kind == "huge-params":
        blob = draw(st.sampled_from(["x", "é", "😀", "\n"])) * draw(st.integers(100_000, 2_000_000))
        obj = {"jsonrpc": "2.0", "id": msg_id, "method": draw(st.sampled_from(METHODS)),
               "params": {"textDocument": {"uri": blob}, "position": {"line": 0, "character": 0}, "blob": blob}}
        return [message(obj)], msg_id, kind
    if kind == "bad-envelope":  # an id and a method, but no jsonrpc, another version, or a method of another type
        obj = {"id": msg_id, "method": draw(st.one_of(st.sampled_from(METHODS), json_value)), "params": {}}
        variant = draw(st.sampled_from(["none", "1.0", 2, "method"]))
        if variant != "none":
            obj["jsonrpc"] = "2.0" if variant == "method" else variant
        return [message(obj)], msg_id, kind
    if kind == "odd-id":  # ids JSON-RPC does not allow: answered with a null id, or not at all; never a crash
        obj = {"jsonrpc": "2.0", "id": draw(st.one_of(st.floats(allow_nan=False), st.booleans(),
                                                         st.lists(json_leaf, max_size=2))),
               "method": draw(st.sampled_from(METHODS)), "params": {}}
        return [message(obj)], None, kind
    if kind == "garbage-body":
        body = draw(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode),
                              json_value.map(lambda v: json.dumps(v).encode())))
        return [frame(body)], None, kind
    if kind == "truncated":  # Content-Length shorter than the body: this frame is lost, the next must not be
        body = json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": "workspace/executeCommand",
                           "params": {"command": "fillgap.status", "arguments": []}}).encode()
        cut = draw(st.integers(0, len(body) - 1))
        return [b"Content-Length: %d\r\n\r\n" % max(cut, 1) + body], None, kind
    obj = {"jsonrpc": "2.0", "id": msg_id, "method": "workspace/executeCommand",
           "params": {"command": "fillgap.status", "arguments": []}}
    data = message(obj)
    if kind == "length-split":  # a header, then the body in two writes
        at = draw(st.integers(1, len(data) - 1))
        return [data[:at], data[at:]], msg_id, kind
    if kind == "chunked":  # byte by byte for a while
        return [data[i : i + 7] for i in range(0, len(data), 7)], msg_id, kind
    if kind == "junk-headers":  # extra headers, lower case, junk lines before the frame
        junk = draw(st.sampled_from([b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n",
                                     b"hello\r\n", b"\r\n\r\n", b"X-Thing: 1\r\n"]))
        body = data.split(b"\r\n\r\n", 1)[1]
        return [junk + b"content-length: %d\r\n\r\n" % len(body) + body], msg_id, kind
    # oversized-length: a header claiming more than any frame may hold; the frame after it is read
    huge = draw(st.sampled_from([2**31, 10**12, 99999999999999999999]))
    return [b"Content-Length: %d\r\n\r\n{}" % huge, data], msg_id, kind


def test_a_storm_of_malformed_messages_gets_every_request_answered(serve: Callable[..., RawServer]) -> None:
    server = serve()
    server.initialize({**QUICK, "worker": {"mode": "private"}})
    server.open(OPEN[0], AREA)
    server.open(OPEN[1], "just some notes\n", language="plaintext")
    counter = iter(range(1, 10**9))
    tally: Counter[str] = Counter()
    answered = {"result": 0, "error": 0}

    @settings(max_examples=400 if SOAK else 120, deadline=None, database=None, derandomize=not SOAK,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(item(lambda: next(counter)), min_size=1, max_size=6))
    def storm(items: list[Item]) -> None:
        waiting = []
        for chunks, msg_id, kind in items:
            for chunk in chunks:
                server.send(chunk)
                if kind == "chunked":
                    time.sleep(0.001)
            tally[kind] += 1
            if msg_id is not None:
                waiting.append(msg_id)
        for msg_id in waiting:
            response = server.wait(msg_id, timeout=180)
            assert ("result" in response) != ("error" in response), response
            answered["error" if "error" in response else "result"] += 1
            if "error" in response:
                assert isinstance(response["error"].get("code"), int) and isinstance(response["error"]["message"], str)
        assert server.alive()

    storm()
    assert server.alive() and not server.unparsable
    # A request after the storm: a real fill from the real worker, on a fresh document.
    server.open("file:///tmp/fz/after.py", AREA)
    after = server.call("textDocument/inlineCompletion", inline_params("file:///tmp/fz/after.py", 2, 4))
    assert "result" in after, after
    items = after["result"]["items"]
    assert items and items[0]["range"]["start"] == {"line": 2, "character": 4}
    status = server.status()
    assert status["worker"] == "ready"
    unanswered = [k for k in server.responses if k is not None]  # answers nobody was waiting for
    assert not unanswered, unanswered
    record("protocol_fuzz", messages=sum(tally.values()), requests_answered=sum(answered.values()),
           errors=answered["error"], results=answered["result"], kinds=dict(tally),
           suggestions=status["suggestions"])
