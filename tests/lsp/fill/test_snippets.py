"""Doubtful tokens become tab stops, and the snippet expands back to exactly the suggestion."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from lsp.fill.pipeline import doubtful_spans
from lsp.fill.snippets import with_tab_stops
from model.wire.protocol import Candidate


def expand(snippet: str) -> tuple[str, list[str]]:
    """What a client inserts for our snippets (placeholders, $0, escapes), and the placeholder texts."""
    out, stops, i = [], [], 0
    while i < len(snippet):
        if snippet[i] == "\\":
            out.append(snippet[i + 1])
            i += 2
        elif snippet.startswith("$0", i):
            i += 2
        elif m := re.match(r"\$\{\d+:", snippet[i:]):
            i += m.end()
            body = []
            while snippet[i] != "}":
                body.append(snippet[i + 1] if snippet[i] == "\\" else snippet[i])
                i += 2 if snippet[i] == "\\" else 1
            i += 1
            out.append("".join(body))
            stops.append("".join(body))
        else:
            out.append(snippet[i])
            i += 1
    return "".join(out), stops


def test_low_confidence_tokens_become_tab_stops() -> None:
    cand = Candidate(
        text="total = price * qty\n    return total",
        budget=16,
        mean_confidence=0.6,
        tokens=["total", " =", " price", " *", " qty", "\n", "    ", "return", " total"],
        confidences=[0.9, 0.95, 0.2, 0.3, 0.1, 0.99, 0.99, 0.97, 0.8],
    )
    text = "total = price * qty\n    return total"
    spans = doubtful_spans(text, cand, tau=0.35)
    assert [text[a:b] for a, b in spans] == ["price * qty"]
    snippet = with_tab_stops(text, spans)
    assert snippet == "total = ${1:price * qty}\n    return total$0"
    assert expand(snippet) == (text, ["price * qty"])


@given(st.text(alphabet="ab ${}\\\n", max_size=40), st.data())
def test_any_text_round_trips_through_a_snippet(text: str, data: st.DataObject) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=6, unique=True)))
    spans = tuple((cuts[i], cuts[i + 1]) for i in range(0, len(cuts) - 1, 2))
    expanded, stops = expand(with_tab_stops(text, spans))
    assert expanded == text
    assert stops == [text[a:b] for a, b in spans]
