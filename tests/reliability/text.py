"""Positions as LSP defines them, for checking the server: lines end at \\r\\n, \\r or \\n (nothing
else: not a form feed, not U+2028), columns count in the negotiated encoding's units."""

from __future__ import annotations

import re
from typing import Any

_BREAK = re.compile(r"\r\n|\r|\n")


def lines(text: str) -> list[str]:
    """The lines with their line breaks (the last one may be empty)."""
    out, start = [], 0
    for m in _BREAK.finditer(text):
        out.append(text[start : m.end()])
        start = m.end()
    out.append(text[start:])
    return out


def units(s: str, encoding: str) -> int:
    if encoding == "utf-8":
        return len(s.encode("utf-8", "surrogatepass"))
    if encoding == "utf-32":
        return len(s)
    return len(s.encode("utf-16-le", "surrogatepass")) // 2


def offset_of(text: str, pos: dict[str, int], encoding: str) -> int:
    all_lines = lines(text)
    start = sum(len(line) for line in all_lines[: pos["line"]])
    body = _BREAK.sub("", all_lines[pos["line"]])
    col = 0
    for i, ch in enumerate(body):
        if col >= pos["character"]:
            assert col == pos["character"], f"column {pos['character']} falls inside a character"
            return start + i
        col += units(ch, encoding)
    assert col == pos["character"], f"column {pos['character']} past the end of line {pos['line']}"
    return start + len(body)


def position_of(text: str, offset: int, encoding: str) -> dict[str, int]:
    line_start, line = 0, 0
    for m in _BREAK.finditer(text, 0, offset):
        if m.end() > offset:
            break
        line_start, line = m.end(), line + 1
    return {"line": line, "character": units(text[line_start:offset], encoding)}


def span(text: str, rng: dict[str, Any], encoding: str) -> tuple[int, int]:
    return offset_of(text, rng["start"], encoding), offset_of(text, rng["end"], encoding)


def apply_edits(text: str, edits: list[dict[str, Any]], encoding: str) -> str:
    spans = [(*span(text, e["range"], encoding), e["newText"]) for e in edits]
    for start, end, new in sorted(spans, reverse=True):
        text = text[:start] + new + text[end:]
    return text
