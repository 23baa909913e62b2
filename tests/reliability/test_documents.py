"""Document torture: huge files, huge lines, every kind of line ending, tabs, astral characters,
lone surrogates, every position encoding, a file deleted while open; and edit integrity under a
random interleaving of edits and code-action resolves.

The server's view of the text is checked without the model where it can be: a "Fill body" action
carries the placeholder's character offsets in the server's copy of the document, which must be
the offsets of `pass` in the client's copy. Where the model answers, its edit must replace exactly
the placeholder, in the units the client and server agreed on.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.reliability import text as lsp
from tests.reliability.conftest import QUICK, SOAK, record
from tests.reliability.rpc import RawServer

pytestmark = [pytest.mark.slow]

FUNC = 'def area(w, h):\n    """Area of a rectangle."""\n    pass\n'


def _start(serve: Callable[..., RawServer], encoding: str | None) -> RawServer:
    server = serve()
    caps = {"general": {"positionEncodings": [encoding]}} if encoding else {}
    result = server.initialize({**QUICK, "worker": {"mode": "private"}}, caps)
    assert result["capabilities"].get("positionEncoding", "utf-16") == (encoding or "utf-16")
    return server


def _fill_body(server: RawServer, uri: str, text: str, enc: str, at: int) -> dict[str, Any]:
    """The "Fill body" action listed at character offset `at`; its data must point at `pass` in `text`."""
    pos = lsp.position_of(text, at, enc)
    actions = server.result("textDocument/codeAction", {
        "textDocument": {"uri": uri}, "range": {"start": pos, "end": pos}, "context": {"diagnostics": []}})
    bodies = [a for a in actions if a["title"] == "Fill body"]
    assert len(bodies) == 1, [a["title"] for a in actions]
    data = bodies[0]["data"]
    assert text[data["start"] : data["end"]] in ("pass", "..."), (text[data["start"] - 20 : data["end"] + 20], data)
    return bodies[0]


def _resolve_and_check(server: RawServer, uri: str, text: str, enc: str, action: dict[str, Any]) -> bool:
    """Resolve; an edit (if the model has one) must replace exactly `pass` and keep everything else."""
    resolved = server.result("codeAction/resolve", action, timeout=300)
    if not resolved.get("edit"):
        return False
    (change,) = resolved["edit"]["documentChanges"]
    assert change["textDocument"] == {"uri": uri, "version": action["data"]["version"]}
    (edit,) = change["edits"]
    start, end = lsp.span(text, edit["range"], enc)
    assert text[start:end] == "pass"
    after = lsp.apply_edits(text, change["edits"], enc)
    assert after[:start] == text[:start] and after[len(after) - (len(text) - end) :] == text[end:]
    return True


TORTURE = (
    "# -*- coding: utf-8 -*-\r\n"  # CRLF
    "TABLE = {'a': 1}\r"  # a lone CR ends a line too
    "\x0c\n"  # a form feed (CPython's own sources have them): not a line break in LSP
    "SEP = '\u2028'  # LINE SEPARATOR inside a string: not a line break either\n"
    "ODD = '\x85\x0b\x1c'\n"
    "EMOJI = '😀🐍𝄞' + '\U0010ffff'  # astral: two UTF-16 units, four UTF-8 bytes each\n"
    "class Shape:\n"
    "\tdef size(self):\n"  # tabs
    "\t\treturn 0\n"
    "def 𝒻(x='😀'):\n"
    "    pass\n"
)


@pytest.mark.parametrize("enc", [None, "utf-8", "utf-32"])
def test_positions_line_up_through_every_line_ending_and_encoding(
    serve: Callable[..., RawServer], enc: str | None
) -> None:
    encoding = enc or "utf-16"
    server = _start(serve, enc)
    uri = "file:///tmp/docs/torture.py"
    text = TORTURE
    server.open(uri, text)
    action = _fill_body(server, uri, text, encoding, text.index("pass"))
    # Incremental edits at positions after every odd line: the server's copy must stay the client's.
    rng = random.Random(0)
    version = 1
    for _ in range(16):
        if rng.random() < 0.5:  # a comment line at the start of some line (after any kind of line break)
            starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r(?!\n)|\n", text)]
            at = rng.choice([a for a in starts if a < text.index("def 𝒻")])
            insert = rng.choice(["# 😀\r\n", "# \u2028 c\n", "\n", "# c\r", "#\x0c\n", "#\t🐍\n"])
        else:  # characters inside the astral string
            at = text.index("🐍") + rng.choice([0, 1, 2])  # before, inside the pair's code point, after
            insert = rng.choice(["x", "😀", "\t", "é", "\u2028", "\U0001d11e"])
        pos = lsp.position_of(text, at, encoding)
        version += 1
        server.change(uri, version, [{"range": {"start": pos, "end": pos}, "text": insert}])
        text = text[:at] + insert + text[at:]
    # and a replacement across a line break
    start, end = text.index("TABLE"), text.index("SEP")
    version += 1
    server.change(uri, version, [{"range": {"start": lsp.position_of(text, start, encoding),
                                            "end": lsp.position_of(text, end, encoding)}, "text": "T = {}\r\n"}])
    text = text[:start] + "T = {}\r\n" + text[end:]
    action = _fill_body(server, uri, text, encoding, text.index("pass"))
    assert action["data"]["version"] == version
    filled = _resolve_and_check(server, uri, text, encoding, action)
    items = server.call("textDocument/inlineCompletion", {
        "textDocument": {"uri": uri}, "position": lsp.position_of(text, text.index("pass") + 2, encoding),
        "context": {"triggerKind": 1}})["result"]["items"]
    for item in items:
        start, end = lsp.span(text, item["range"], encoding)
        assert text[start:end] == "pass"
    record(f"torture_{encoding}", edits=version - 1, resolved_with_edit=filled, inline_items=len(items))


def test_lone_surrogates_in_a_document_get_answers_not_crashes(serve: Callable[..., RawServer]) -> None:
    server = _start(serve, None)
    uri = "file:///tmp/docs/surrogates.py"
    text = "# broken: \ud800 and \udfff here\nX = '\udc80'\n" + FUNC
    server.open(uri, text)  # sent as JSON escapes; the text is not valid Unicode
    action = _fill_body(server, uri, text, "utf-16", text.index("pass"))
    server.change(uri, 2, [{"range": {"start": {"line": 1, "character": 5}, "end": {"line": 1, "character": 6}},
                            "text": "\ud83d"}])
    text = text.replace("'\udc80'", "'\ud83d'")
    action = _fill_body(server, uri, text, "utf-16", text.index("pass"))
    _resolve_and_check(server, uri, text, "utf-16", action)
    response = server.inline(uri, 4, 4)
    assert "result" in response, response
    assert server.alive()


def test_a_ten_megabyte_file_with_a_hundred_thousand_character_line(
    serve: Callable[..., RawServer], tmp_path: Path
) -> None:
    server = _start(serve, None)
    path = tmp_path / "big.py"
    size = 10_000_000 if SOAK else 1_000_000  # 10 MB: about 30 s on two shared cores, FILLGAP_SOAK=1
    filler = "".join(f"def f{i}(x):\n    return x + {i}  # {'é' * (i % 7)}\n\n" for i in range(size // 38))
    long_line = "DATA = '" + "ab😀" * 33_333 + "'\n"
    text = long_line + filler[:size] + "\n\n" + FUNC
    text = text[: text.rfind("\n\n", 0, len(text) - len(FUNC))] + "\n\n" + FUNC
    assert len(text.encode()) > size and len(long_line) > 100_000
    path.write_text(text)
    uri = path.as_uri()
    server.open(uri, text)
    action = _fill_body(server, uri, text, "utf-16", text.index("pass", len(text) - 50))
    # An edit at the end of the long line, then at the very end of the file.
    pos = lsp.position_of(text, len(long_line) - 2, "utf-16")
    server.change(uri, 2, [{"range": {"start": pos, "end": pos}, "text": "😀"}])
    text = text[: len(long_line) - 2] + "😀" + text[len(long_line) - 2 :]
    end = lsp.position_of(text, len(text), "utf-16")
    server.change(uri, 3, [{"range": {"start": end, "end": end}, "text": "# end\n"}])
    text += "# end\n"
    path.unlink()  # deleted while open: the server works on the editor's copy, never the disk's
    action = _fill_body(server, uri, text, "utf-16", text.index("pass", len(text) - 60))
    filled = _resolve_and_check(server, uri, text, "utf-16", action)
    line_gap = server.call("textDocument/inlineCompletion", {
        "textDocument": {"uri": uri}, "position": lsp.position_of(text, len(long_line) - 1, "utf-16"),
        "context": {"triggerKind": 1}})
    assert "result" in line_gap, line_gap
    for item in line_gap["result"]["items"]:
        start, end_ = lsp.span(text, item["range"], "utf-16")
        assert start <= end_ <= len(text)
    assert server.alive()
    record("ten_megabytes", bytes=len(text.encode()), longest_line=len(long_line), resolved_with_edit=filled)


SHAPES = ("import math\n\n\ndef area(w, h):\n    pass\n\n\ndef circle(r):\n    ...\n\n\n"
          "def perimeter(w, h):\n    pass\n")


def test_random_edits_and_resolves_never_yield_an_edit_for_a_stale_version(serve: Callable[..., RawServer]) -> None:
    """Edits and resolves interleaved at random: an action listed before an edit is refused with
    ContentModified; one listed on the current text, if it has an edit, applies to exactly that text."""
    server = _start(serve, None)
    uri = "file:///tmp/docs/shapes.py"
    text, version = SHAPES, 1
    server.open(uri, text)
    rng = random.Random(1234)
    steps = 120 if SOAK else 40
    counts = {"edits": 0, "resolves": 0, "stale_refused": 0, "applied": 0, "no_edit": 0}
    listed: list[dict[str, Any]] = []
    for _ in range(steps):
        roll = rng.random()
        if roll < 0.45:  # an edit that keeps the code's syntax: comment and blank lines come and go
            line_starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n" and i + 1 < len(text)]
            spare = [a for a in line_starts if text[a] == "\n" or text.startswith("# ", a)]
            if spare and rng.random() < 0.4:  # delete a comment or blank line, or edit inside a comment
                start = rng.choice(spare)
                if text[start] == "#" and rng.random() < 0.5:
                    start, end, new = start + 2, start + 3, rng.choice(["😀", "é", "xy", ""])
                else:
                    start, end, new = start, text.index("\n", start) + 1, ""
            else:
                start = end = rng.choice(line_starts)
                new = rng.choice(["# note 😀\n", "\n", "# c\u00e9\n"])
            rng_ = {"start": lsp.position_of(text, start, "utf-16"), "end": lsp.position_of(text, end, "utf-16")}
            version += 1
            server.change(uri, version, [{"range": rng_, "text": new}])
            text = text[:start] + new + text[end:]
            counts["edits"] += 1
            continue
        if roll < 0.75 or not listed:  # list the actions on the current text; now and then resolve at once
            holes = _placeholders(text)
            if not holes:
                continue
            start, _ = rng.choice(holes)
            listed.append({"action": _fill_body(server, uri, text, "utf-16", start), "text": text,
                           "version": version})
            if rng.random() > 0.35:
                continue
            entry = listed.pop()
        else:  # resolve one listed earlier (often stale)
            entry = listed.pop(rng.randrange(len(listed)))
        response = server.call("codeAction/resolve", entry["action"], timeout=300)
        counts["resolves"] += 1
        if entry["version"] != version:
            assert response.get("error", {}).get("code") == -32801, response  # ContentModified
            counts["stale_refused"] += 1
            continue
        edit = response["result"].get("edit")
        if not edit:
            counts["no_edit"] += 1
            continue
        (change,) = edit["documentChanges"]
        assert change["textDocument"]["version"] == version
        after = lsp.apply_edits(text, change["edits"], "utf-16")
        (e,) = change["edits"]
        start, end = lsp.span(text, e["range"], "utf-16")
        assert text[start:end] in ("pass", "...")
        assert after[:start] == text[:start] and after.endswith(text[end:])
        counts["applied"] += 1
        version += 1  # the client applies it: the server hears of it as an edit
        server.change(uri, version, [{"range": e["range"], "text": e["newText"]}])
        text = after
    # The server's copy is the client's after all of it.
    server.change(uri, version + 1, [{"range": {"start": {"line": 0, "character": 0},
                                                "end": {"line": 0, "character": 0}}, "text": "# last\n"}])
    text = "# last\n" + text
    for start, _ in _placeholders(text):
        _fill_body(server, uri, text, "utf-16", start)
    assert counts["stale_refused"] >= 1 and counts["resolves"] >= 5
    record("edit_integrity", steps=steps, **counts)


def _placeholders(text: str) -> list[tuple[int, int]]:
    out = []
    for word in ("    pass\n", "    ...\n"):
        at = text.find(word)
        while at >= 0:
            before = text[text.rfind("\n", 0, at) + 1 : at]
            if not before.strip() and text[:at].rstrip().endswith(":"):
                out.append((at + 4, at + len(word) - 1))
            at = text.find(word, at + 1)
    return sorted(out)
