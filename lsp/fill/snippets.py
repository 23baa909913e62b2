"""A suggestion as an LSP snippet whose doubtful spans are tab stops, so the user tabs straight to
the parts the model was unsure of."""

from __future__ import annotations

import re

from lsp.fill.gaps import line_start

_SPECIAL = re.compile(r"([$}\\])")


def escape(text: str) -> str:
    """Snippet syntax treats `$`, `}` and `\\` specially; escape them to keep the text literal."""
    return _SPECIAL.sub(r"\\\1", text)


def with_tab_stops(text: str, doubts: tuple[tuple[int, int], ...]) -> str:
    """`text` as a snippet: each doubtful span a placeholder ${n:...}, then the final stop $0."""
    parts, at = [], 0
    for n, (start, end) in enumerate(doubts, 1):
        parts.append(escape(text[at:start]))
        parts.append(f"${{{n}:{escape(text[start:end])}}}")
        at = end
    parts.append(escape(text[at:]))
    return "".join(parts) + "$0"


Spans = tuple[tuple[int, int], ...]


def line_indent(source: str, offset: int) -> str:
    """The indentation of the line holding `offset`, up to `offset`: what a snippet client (VS Code's
    snippet session, Neovim's vim.snippet) prefixes to each new line it inserts there."""
    head = source[line_start(source, offset) : offset]
    return head[: len(head) - len(head.lstrip(" \t"))]


def relative_to(indent: str, text: str, spans: Spans = ()) -> tuple[str, Spans] | None:
    """`text` (and `spans` in it) with `indent` taken off each line after the first, so that a client
    that re-indents a snippet's new lines to the insertion line inserts `text` as written; None when
    a line starts shallower than `indent`, which such a client cannot insert."""
    lines = text.split("\n")
    if not indent or len(lines) == 1:
        return text, spans
    kept, cuts, at = [lines[0]], [], len(lines[0]) + 1
    for line in lines[1:]:
        if line.startswith(indent):
            cut = len(indent)
        elif not line.strip(" \t"):
            cut = len(line)  # a blank line: the client's indentation is all it gets
        else:
            return None
        cuts.append((at, cut))
        kept.append(line[cut:])
        at += len(line) + 1

    def moved(offset: int) -> int:
        return offset - sum(min(max(offset - start, 0), cut) for start, cut in cuts)

    return "\n".join(kept), tuple((moved(a), moved(b)) for a, b in spans)
