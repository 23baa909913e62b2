"""Doubtful tokens become tab stops, and the snippet expands back to exactly the suggestion."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from lsp.fill.pipeline import doubtful_spans
from lsp.fill.snippets import line_indent, relative_to, with_tab_stops
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


def client_indents(indent: str, text: str) -> str:
    """What VS Code's snippet session and Neovim's vim.snippet do to a snippet's new lines: prefix
    the insertion line's indentation."""
    first, *rest = text.split("\n")
    return "\n".join([first, *(indent + line for line in rest)])


def test_the_indentation_a_snippet_client_adds_is_taken_off_first() -> None:
    source = "def area(w, h):\n    pass\n"
    at = source.index("pass")
    assert line_indent(source, at) == "    " and line_indent(source, 0) == "" and line_indent("x = 1", 4) == ""
    body = "w = abs(w)\n\n    return w * h\n        # unreachable"
    relative = relative_to("    ", body, ((0, 1), (16, 22), (23, 28)))
    assert relative is not None
    text, spans = relative
    assert text == "w = abs(w)\n\nreturn w * h\n    # unreachable"
    assert [text[a:b] for a, b in spans] == ["w", "return", "w * h"]
    assert client_indents("    ", text).replace("    \n", "\n") == body
    assert relative_to("    ", "x = 1\nreturn x") is None  # shallower than the gap's line: no snippet
    assert relative_to("", body) == (body, ())


@given(st.lists(st.text(alphabet="ab $}\n", max_size=8).filter(lambda t: "\n" not in t), min_size=1, max_size=5))
def test_a_relative_snippet_expands_back_to_the_text_at_its_indentation(lines: list[str]) -> None:
    text = "\n".join([lines[0], *("  " + line for line in lines[1:])])
    relative = relative_to("  ", text, ((0, len(lines[0])),))
    assert relative is not None
    expanded, stops = expand(with_tab_stops(*relative))
    assert client_indents("  ", expanded) == text and stops == [lines[0]]
