"""The gaps a training example cuts out of a token window, shaped like the gaps users leave.

The server asks for four kinds of fill (lsp/fill/gaps.py): the rest of a line, one or more whole
lines, a whole body (a `pass`/`...`/`TODO` placeholder, or a body the user selected), and every
hole of a file at once ("Fill all"). Each kind here cuts that shape out of a window, on line
boundaries read from the tokens: the tokenizer gives newlines and leading indentation pieces of
their own, so a line's start, end and indentation width are plain array lookups. Every span is
followed by a random number of null tokens, as a gap's unused length budget is at inference.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

Span = tuple[int, int]  # [start, end) token positions in the window, the end before a newline

# Shares of the span examples by kind: lines as today, then bodies and several holes, which the
# five-language model never saw (issue 17).
KIND_WEIGHTS = {"lines": 0.35, "body": 0.35, "holes": 0.30}
MAX_BODY_TOKENS = 112  # the largest body budget the server asks for is below this, with room for nulls
MAX_BODY_NULLS = 48


@dataclass(frozen=True)
class Lines:
    """A window's lines: where each starts, where its text starts (after the indent) and ends
    (at its newline, or the window's end), and its indentation width in characters."""

    start: np.ndarray
    text: np.ndarray
    end: np.ndarray
    indent: np.ndarray

    def __len__(self) -> int:
        return len(self.start)

    def blank(self, i: int) -> bool:
        return bool(self.text[i] >= self.end[i])


@dataclass(frozen=True)
class Vocab:
    """What span cutting needs to know of the tokenizer: the newline id, each id's indent width
    (0 for ids that are not pure spaces or tabs), and which ids end a block's header line."""

    newline: int
    indent_width: np.ndarray
    opens_block: np.ndarray


def vocab_tables(pieces: dict[str, int], size: int, newline: int) -> Vocab:
    """The tables of `Vocab` from a byte-level BPE vocabulary (piece -> id)."""
    width = np.zeros(size, dtype=np.int32)
    opens = np.zeros(size, dtype=bool)
    for piece, tid in pieces.items():
        if piece and set(piece) <= {"Ġ", "ĉ"}:  # byte-level space / tab
            width[tid] = len(piece) + 3 * piece.count("ĉ")  # a tab counts as four columns
        opens[tid] = piece.rstrip("Ġ").endswith((":", "{"))
    return Vocab(newline, width, opens)


def lines_of(window: np.ndarray, vocab: Vocab) -> Lines:
    """The lines of a window; the first is partial (the window starts anywhere), so it is dropped."""
    breaks = np.nonzero(window == vocab.newline)[0]
    starts = breaks + 1
    ends = np.append(breaks[1:], len(window))
    keep = starts < len(window)
    starts, ends = starts[keep], ends[keep]
    indent = vocab.indent_width[window[np.minimum(starts, len(window) - 1)]]
    text = starts + (indent > 0)
    return Lines(starts, np.minimum(text, ends), ends, indent)


def line_span(lines: Lines, rng: random.Random, max_tokens: int) -> Span | None:
    """One to sixteen whole lines (a line at a time most often), sometimes from mid-line: the
    rest-of-line and blank-line gaps. The start is after the indent 80% of the time."""
    if len(lines) < 2:
        return None
    i = rng.randrange(len(lines) - 1)
    s = int(lines.text[i]) if rng.random() < 0.8 else int(lines.start[i])
    if rng.random() < 0.2:  # finish-the-line gaps start mid-line
        s = min(s + rng.randint(1, 6), int(lines.end[i]))
    n = min(1 + int(rng.expovariate(1 / 2.5)), 16, len(lines) - i - 1)
    e = min(int(lines.end[i + n - 1]), s + max_tokens)
    return (s, e) if e > s else None


def body_span(lines: Lines, vocab: Vocab, window: np.ndarray, rng: random.Random) -> Span | None:
    """A block's body: the lines after a header line ending in `:` or `{` that are indented
    deeper than it. Half the time from its first line (a placeholder body), half from a later
    line at the body's own indentation (the rest of a body, e.g. after its docstring)."""
    headers = [
        i
        for i in range(len(lines) - 1)
        if not lines.blank(i) and vocab.opens_block[window[lines.end[i] - 1]] and lines.indent[i + 1] > lines.indent[i]
    ]
    if not headers:
        return None
    h = rng.choice(headers)
    last = h + 1
    while last + 1 < len(lines) and (lines.blank(last + 1) or lines.indent[last + 1] > lines.indent[h]):
        last += 1
    while last > h + 1 and lines.blank(last):
        last -= 1
    first = h + 1
    if rng.random() < 0.5:
        level = lines.indent[h + 1]
        later = [i for i in range(h + 2, last + 1) if lines.indent[i] == level and not lines.blank(i)]
        first = rng.choice(later) if later else first
    s = int(lines.text[first])
    ends = [int(lines.end[i]) for i in range(first, last + 1) if lines.end[i] - s <= MAX_BODY_TOKENS]
    return (s, ends[-1]) if ends and ends[-1] > s else None


def hole_spans(lines: Lines, rng: random.Random, max_tokens: int) -> list[Span]:
    """Two or three holes of one to three lines each, with context between them: "Fill all"."""
    want = rng.randint(2, 3)
    order = list(range(len(lines)))
    rng.shuffle(order)
    taken: list[Span] = []
    for i in order:
        if len(taken) == want:
            break
        if lines.blank(i):
            continue
        n = min(rng.randint(1, 3), len(lines) - i)
        s, e = int(lines.text[i]), min(int(lines.end[i + n - 1]), int(lines.text[i]) + max_tokens)
        if e > s and all(e + 1 < a or s > b + 1 for a, b in taken):
            taken.append((s, e))
    return sorted(taken) if len(taken) >= 2 else []


def cut_spans(
    window: np.ndarray, vocab: Vocab, rng: random.Random, max_tokens: int, max_nulls: int
) -> tuple[list[Span], list[int]]:
    """Spans of one kind drawn by KIND_WEIGHTS, with each span's null count; no spans when the
    window has no such shape (the caller falls back to plain masking)."""
    lines = lines_of(window, vocab)
    kind = rng.choices(list(KIND_WEIGHTS), weights=list(KIND_WEIGHTS.values()))[0]
    if kind == "body":
        span = body_span(lines, vocab, window, rng)
        return ([span], [rng.randint(0, MAX_BODY_NULLS)]) if span else ([], [])
    if kind == "holes":
        spans = hole_spans(lines, rng, max_tokens // 2)
        return spans, [rng.randint(0, max_nulls // 2) for _ in spans]
    span = line_span(lines, rng, max_tokens)
    return ([span], [rng.randint(0, max_nulls)]) if span else ([], [])


def pad_spans(window: np.ndarray, spans: list[Span], nulls: list[int], null_id: int) -> tuple[np.ndarray, list[Span]]:
    """The window with `nulls[k]` null tokens after span k, cut back to its length; returns the
    ids and each span's region (the span and its nulls) in the new positions, clipped."""
    L = len(window)
    pieces, regions, at, shift = [], [], 0, 0
    for (s, e), n in zip(spans, nulls, strict=True):
        pieces += [window[at:e], np.full(n, null_id, dtype=window.dtype)]
        regions.append((s + shift, e + shift + n))
        shift += n
        at = e
    pieces.append(window[at:])
    ids = np.concatenate(pieces)[:L]
    return ids, [(min(a, L), min(b, L)) for a, b in regions if a < L]
