"""Turn a raw model insertion into one worth showing: a chain of small named filters, then a
syntax check in context that keeps the longest run of whole lines that parses.

Each filter takes the text and the gap and returns text ("" drops the suggestion).
"""

from __future__ import annotations

from collections.abc import Callable

from lsp.gaps import Gap
from lsp.syntax import ByteIndex, error_nodes, insertion_parses, parse

Filter = Callable[[str, Gap, str], str]


def strip_trailing_space(text: str, gap: Gap, suffix: str) -> str:
    return "\n".join(line.rstrip() for line in text.rstrip().split("\n"))


def single_line(text: str, gap: Gap, suffix: str) -> str:
    return text if gap.multiline else text.split("\n", 1)[0]


def stop_at_dedent(text: str, gap: Gap, suffix: str) -> str:
    """A body ends where a line is indented less than the body: that line belongs to the suffix."""
    lines = text.split("\n")
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() and not line.startswith(gap.indent):
            return "\n".join(lines[:i]).rstrip()
    return text


def drop_suffix_echo(text: str, gap: Gap, suffix: str) -> str:
    """Cut trailing lines that repeat the lines right after the gap (the model copying its context)."""
    lines = text.split("\n")
    following = [line.strip() for line in suffix.split("\n") if line.strip()][: len(lines)]
    for n in range(min(len(lines), len(following)), 0, -1):
        if [line.strip() for line in lines[-n:]] == following[:n]:
            return "\n".join(lines[:-n]).rstrip()
    if not gap.multiline and suffix.split("\n", 1)[0].strip() and text.endswith(suffix.split("\n", 1)[0]):
        return text[: len(text) - len(suffix.split("\n", 1)[0])]
    return text


FILTERS: tuple[Filter, ...] = (strip_trailing_space, single_line, stop_at_dedent, drop_suffix_echo)


def clean(text: str, gap: Gap, suffix: str) -> str:
    for step in FILTERS:
        text = step(text, gap, suffix)
        if not text.strip():
            return ""
    return text


def parses(language_id: str, document: str, gap: Gap, text: str) -> bool:
    after = document[: gap.start] + text + document[gap.end :]
    return bool(text.strip()) and insertion_parses(language_id, document, after, gap.start, gap.start + len(text))


def error_ranges(language_id: str, document: str, gap: Gap, text: str) -> list[tuple[int, int]]:
    """Character ranges of the insertion under syntax errors, widened by one character each side
    so a MISSING node (zero width) still covers the tokens around it."""
    after = document[: gap.start] + text + document[gap.end :]
    index = ByteIndex(after)
    ranges = []
    for node in error_nodes(parse(language_id, after)):
        start = index.to_char(node.start_byte) - gap.start - 1
        end = index.to_char(node.end_byte) - gap.start + 1
        if end > 0 and start < len(text):
            ranges.append((max(0, start), min(len(text), end)))
    return ranges


def longest_parsing_prefix(language_id: str, document: str, gap: Gap, text: str) -> str:
    """The insertion cut to its longest run of leading whole lines that parses in context, or ''."""
    lines = text.split("\n")
    for n in range(len(lines), 0, -1):
        candidate = "\n".join(lines[:n]).rstrip()
        if parses(language_id, document, gap, candidate):
            return candidate
    return ""
