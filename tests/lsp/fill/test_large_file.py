"""A fill's checks cost its region, not the file: in a big document (the soak's shape, CI-sized),
every parse a candidate check makes is of the few lines around the gap, the answers are those of
the same checks in a small document, and the whole chain takes about as long as it does there.
The line index that converts LSP positions agrees with pygls's own conversions."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lsprotocol import types
from pygls.workspace import PositionCodec, TextDocument

import lsp.fill.postprocess as postprocess
import lsp.fill.region as region
from lsp.fill.gaps import LINES_BUDGETS, Gap, find_gap, placeholder_gaps
from lsp.fill.postprocess import adds_code, error_ranges, longest_parsing_prefix, parses
from lsp.fill.syntax import insertion_parses, parse
from lsp.server.documents import LspTextDocument, lsp_lines

FUNC = 'def area(w, h):\n    """Area of a rectangle."""\n    pass\n'
CANDIDATES = ["return w * h", "return (w", "x = w * h\n    return x +", '"""Only words."""', "return w *", "w = h\n  z"]


def soak_like(size: int) -> str:
    """tests/reliability/test_documents.py's big file, `size` characters of functions, ending in FUNC."""
    filler = "".join(f"def f{i}(x):\n    return x + {i}  # {'é' * (i % 7)}\n\n" for i in range(size // 38 + 1))
    return "DATA = '" + "ab😀" * 33_333 + "'\n" + filler[: filler.rindex("\n\n", 0, size) + 2] + "\n" + FUNC


BIG = soak_like(600_000)


def _checks(document: str) -> list[object]:
    """What a fill asks of the checks at FUNC's body: the gap, every candidate whole, in context,
    repaired and cut back (the region found afresh, as for a new fill)."""
    region._CACHE.clear()
    tree = parse("python", document) if document is not BIG else _BIG_TREE
    gap = find_gap("python", document, document.rindex("pass") + 4, tree=tree)
    found: list[object] = [gap.kind, gap.end - gap.start]
    for text in CANDIDATES:
        found += [parses("python", document, gap, text, tree, True), parses("python", document, gap, text, tree)]
        found += [
            error_ranges("python", document, gap, text, tree),
            longest_parsing_prefix("python", document, gap, text, tree),
        ]
    return found


_BIG_TREE = parse("python", BIG)


def test_every_parse_of_a_candidate_check_is_of_the_region_only(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []

    def counting(parser: Callable[[str, str], object]) -> Callable[[str, str], object]:
        def parse_counted(language_id: str, text: str) -> object:
            seen.append(len(text))
            return parser(language_id, text)

        return parse_counted

    monkeypatch.setattr(postprocess, "parse", counting(postprocess.parse))
    monkeypatch.setattr(region, "parse", counting(region.parse))
    small = _checks(FUNC)
    big = _checks(BIG)
    assert big == small  # the same answers as in a file that is only the function
    assert seen and max(seen) < 200, sorted(seen)[-5:]  # the function, with or without a candidate; never the file
    assert len(BIG) > 700_000


def test_the_checks_take_about_as_long_in_the_big_file_as_in_a_small_one() -> None:
    def best_of_three(document: str) -> float:
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            _checks(document)
            times.append(time.perf_counter() - t0)
        return min(times)

    small, big = best_of_three(FUNC), best_of_three(BIG)
    # Finding the region counts the file's line breaks (C speed, ~1 ms a MB); the rest is the region's.
    assert big <= 3 * small + 0.05, (small, big)


REFERENCE = (
    'import os\n\n\ndef area(w, h):\n    """Ärea — of a rectangle."""\n    return w * h\n\n\n'
    "class Box:\n    size = 1\n\n    def grow(self):\n        pass\n\n\nx = [1,\n     2]\n"
)
PIECES = st.sampled_from(
    ["x", " ", "\n", "    ", "(", ")", ":", "é", "😀", "def f():\n    pass", '"""', "return 1", "y = 2"]
)


def _whole_file(document: str, gap: Gap, text: str) -> bool:
    """The check as it was, over the whole document (every candidate paid a full parse and query)."""
    after = document[: gap.start] + text + document[gap.end :]
    tree = parse("python", after)
    end = gap.start + len(text)
    return insertion_parses("python", document, after, gap.start, end, tree, parse("python", document)) and (
        gap.kind != "body" or adds_code("python", after, tree, gap.start, end)
    )


@settings(max_examples=100, deadline=None)
@given(st.integers(0, len(REFERENCE)), st.lists(PIECES, min_size=1, max_size=3))
def test_a_region_check_agrees_with_the_whole_file_check(at: int, pieces: list[str]) -> None:
    text = "".join(pieces)
    if not text.strip():
        return
    gap = Gap("lines", at, at, "", LINES_BUDGETS)
    assert parses("python", REFERENCE, gap, text) == _whole_file(REFERENCE, gap, text), (at, text)


def test_the_gap_at_each_placeholder_is_the_one_the_whole_file_lists() -> None:
    document = BIG[-3000:] + "\n\nclass K:\n    def m(self):\n        ...\n\n    def n(self):\n        pass\n"
    document = document[document.index("\ndef ") + 1 :]
    listed = placeholder_gaps("python", document)
    assert len(listed) >= 3
    for gap in listed:
        assert find_gap("python", document, gap.start) == gap


class PyglsLines(TextDocument):
    """pygls's conversions, over LSP's lines: the reference the index must agree with."""

    @property
    def lines(self) -> tuple[str, ...]:
        return tuple(lsp_lines(self.source))


@pytest.mark.parametrize("encoding", [types.PositionEncodingKind.Utf16, types.PositionEncodingKind.Utf8])
def test_the_line_index_converts_and_edits_as_pygls_does(encoding: str) -> None:
    rng = random.Random(17)
    pieces = ["a", "\n", "\r", "\r\n", "é", "😀", "\x0c", "  ", ""]
    codec = PositionCodec(encoding)
    for _ in range(60):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        mine, theirs = (
            LspTextDocument("file:///a", text, position_codec=codec),
            PyglsLines("file:///a", text, position_codec=codec),
        )
        for _ in range(5):
            source = mine.source
            if source:
                for offset in range(len(source) + 2):
                    assert mine.client_position_at_offset(offset) == theirs.client_position_at_offset(offset)
            for line in range(len(lsp_lines(source))):
                for char in range(5):
                    pos = types.Position(line=line, character=char)
                    assert mine.offset_at_position(pos) == theirs.offset_at_position(pos), (source, pos)
            s = rng.randint(0, len(source))
            e = rng.randint(s, len(source))
            rng_ = types.Range(mine.client_position_at_offset(s), mine.client_position_at_offset(e))
            new = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 3)))
            change = types.TextDocumentContentChangePartial(range=rng_, text=new)
            mine.apply_change(change)
            theirs.apply_change(change)
            assert mine.source == theirs.source
            assert mine.starts() == [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", mine.source)]
