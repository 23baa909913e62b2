"""Incrementally kept trees equal fresh parses, whatever the edits; so do incrementally checked insertions."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from lsprotocol import types
from pygls.workspace import PositionCodec, TextDocument

from lsp.fill.gaps import LINES_BUDGETS, Gap
from lsp.fill.postprocess import parses
from lsp.fill.syntax import parse
from lsp.server.trees import DocumentTrees

BASE = 'def area(w, h):\n    """Ärea — of a rectangle."""\n    return w * h\n\n\nclass Box:\n    size = 1\n'
PIECES = st.sampled_from(
    ["", "x", " ", "\n", "    ", "(", ")", ":", "é", "😀", "def f():\n    pass\n", '"""', "return 1"]
)


@st.composite
def edits(draw: st.DrawFn) -> list[tuple[int, int, str]]:
    return draw(st.lists(st.tuples(st.integers(0, 400), st.integers(0, 20), PIECES), max_size=8))


@settings(max_examples=60, deadline=None)
@given(edits())
def test_kept_tree_equals_a_fresh_parse_after_any_edits(changes: list[tuple[int, int, str]]) -> None:
    codec = PositionCodec(types.PositionEncodingKind.Utf16)
    trees = DocumentTrees()
    trees.open("file:///a.py", "python", BASE, codec)
    mirror = TextDocument("file:///a.py", BASE, position_codec=codec)
    for at, length, text in changes:
        source = mirror.source
        start = min(at, len(source))
        end = min(start + length, len(source))
        rng = types.Range(mirror.client_position_at_offset(start), mirror.client_position_at_offset(end))
        change = types.TextDocumentContentChangePartial(range=rng, text=text)
        trees.change("file:///a.py", [change])
        mirror.apply_change(change)
    kept = trees.tree("file:///a.py", "python", mirror.source)
    assert str(kept.root_node) == str(parse("python", mirror.source).root_node)
    assert trees.full_parses == 1


@settings(max_examples=60, deadline=None)
@given(st.integers(0, len(BASE)), PIECES)
def test_incremental_check_of_an_insertion_agrees_with_a_full_one(at: int, text: str) -> None:
    gap = Gap("lines", at, at, "", LINES_BUDGETS)
    assert parses("python", BASE, gap, text, parse("python", BASE)) == parses("python", BASE, gap, text)
