"""A suggestion as an LSP snippet whose doubtful spans are tab stops, so the user tabs straight to
the parts the model was unsure of."""

from __future__ import annotations

import re

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
