"""Gap-shaped training spans (model.train.spans) on the shipped tokenizer and real code: each kind
cuts what it says, on line boundaries, and the null padding lands after each span."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from model.tokenizer import CodeTokenizer
from model.train.spans import body_span, cut_spans, hole_spans, line_span, lines_of, pad_spans, vocab_tables

SHIPPED = Path(__file__).resolve().parents[3] / "model" / "checkpoints" / "fillgap-small"
SOURCE = '''import os


def area(width, height):
    """The area of a rectangle."""
    if width < 0 or height < 0:
        raise ValueError("negative side")
    return width * height


class Box:
    def volume(self):
        return self.w * self.h * self.d
'''


@pytest.fixture(scope="module")
def tok() -> CodeTokenizer:
    return CodeTokenizer.from_file(SHIPPED / "tokenizer.json")


def _window(tok: CodeTokenizer) -> tuple[np.ndarray, object]:
    ids = np.asarray(tok.encode("x = 1\n" + SOURCE), dtype=np.int32)  # the first line is partial in a window
    vocab = vocab_tables(tok.tok.get_vocab(), tok.vocab_size, tok.tok.token_to_id("Ċ"))
    return ids, vocab


def _text(tok: CodeTokenizer, ids: np.ndarray, span: tuple[int, int]) -> str:
    return tok.decode([int(i) for i in ids[span[0] : span[1]]])


def test_lines_know_their_indent_and_ends(tok: CodeTokenizer) -> None:
    ids, vocab = _window(tok)
    lines = lines_of(ids, vocab)
    texts = [tok.decode([int(i) for i in ids[s:e]]) for s, e in zip(lines.start, lines.end, strict=True)]
    assert texts[0] == "import os" and texts[1] == "" and "def area(width, height):" in texts
    at = texts.index("    return width * height")
    assert lines.indent[at] == 4
    assert _text(tok, ids, (int(lines.text[at]), int(lines.end[at]))) == "return width * height"


def test_a_body_is_the_block_under_its_header(tok: CodeTokenizer) -> None:
    ids, vocab = _window(tok)
    lines = lines_of(ids, vocab)
    bodies = {_text(tok, ids, s) for seed in range(60) if (s := body_span(lines, vocab, ids, random.Random(seed)))}
    whole = SOURCE.split("height):\n    ")[1].split("\n\n")[0]
    assert whole in bodies  # a placeholder body: from its first line to its last, before the dedent
    assert "return width * height" in bodies  # the rest of a body, from a later line at its indent
    assert "return self.w * self.h * self.d" in bodies
    assert all(not b.startswith((" ", "\n")) and not b.endswith("\n") for b in bodies)


def test_holes_are_several_and_apart(tok: CodeTokenizer) -> None:
    ids, vocab = _window(tok)
    lines = lines_of(ids, vocab)
    for seed in range(30):
        spans = hole_spans(lines, random.Random(seed), 32)
        assert 2 <= len(spans) <= 3
        assert all(b[0] > a[1] + 1 for a, b in zip(spans, spans[1:], strict=False))


def test_line_spans_end_at_a_line_end(tok: CodeTokenizer) -> None:
    ids, vocab = _window(tok)
    lines = lines_of(ids, vocab)
    ends = set(lines.end.tolist())
    for seed in range(50):
        span = line_span(lines, random.Random(seed), 64)
        assert span is None or span[1] in ends or span[1] - span[0] == 64


def test_nulls_follow_each_span_and_regions_cover_them(tok: CodeTokenizer) -> None:
    ids, vocab = _window(tok)
    for seed in range(40):
        spans, nulls = cut_spans(ids, vocab, random.Random(seed), 64, 32)
        padded, regions = pad_spans(ids, spans, nulls, 3)
        assert len(padded) == len(ids)
        for (s, e), n, (a, b) in zip(spans, nulls, regions, strict=False):
            assert b - a <= e - s + n
            kept = padded[a:b]
            assert (kept[: e - s] == ids[s:e][: len(kept)]).all() and (kept[e - s :] == 3).all()
