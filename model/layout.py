"""Token layouts: where a fill's gap (or holes) sit in a window of at most `limit` tokens.

Every layout is cut to the window by one rule (`fit_around`): keep the end of the text before
the gap and the start of the text after it, giving the text after at least SUFFIX_SHARE of the
room when the text before would take it all. A plain fill is one gap between a prefix and a
suffix (`fit_window`); two kinds of request need more than that.

Files are marked as each family saw documents in training (model/families.py `start`): a prefix
that starts its file follows the start marker (BOS for Dream and LLaDA, nothing for Open-dCoder,
EOS for our own checkpoints) and a suffix that ends its file is followed by EOS.

Context: another file's text (signatures the gap's code names) goes first, a file of its own
marked the same way (our checkpoints: one EOS between files, as their training stream had), within
CONTEXT_SHARE of the window; the gap's own prefix and suffix share the rest.

Joint fill: several holes in one document are denoised together. Neighbouring holes that fit one
window together share it, so each sees the others' drafts as they form (what a model that reads
both sides can do and a left-to-right one cannot); holes too far apart get windows of their own,
all rows of one batch, so the whole file is written in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CONTEXT_SHARE = 0.25
SUFFIX_SHARE = 0.25  # of the room around the holes, when the text before them would take it all
RESERVE_SHARE = 0.25  # of a window kept for text around a group of holes


@dataclass
class Span:
    start: int  # position in the window
    length: int
    hole: int  # index of the hole it fills (0 for a plain fill)


@dataclass
class Layout:
    ids: list[int]
    spans: list[Span]


Start = int | None | Literal["eos"]  # a start-of-file marker; "eos": the end marker, as ours were trained


def _start_id(start: Start, eos: int | None) -> int | None:
    return eos if start == "eos" else start


def context_lead(context: list[int], limit: int, eos: int | None, start: Start = "eos") -> list[int]:
    """The context file as it goes before a window of `limit` tokens: its beginning, within
    CONTEXT_SHARE of the window with its markers. A start marker that is not EOS opens it; EOS ends it."""
    if not context:
        return []
    first = _start_id(start, eos)
    head = [first] if first is not None and first != eos else []
    end = [eos] if eos is not None else []
    room = max(0, int(limit * CONTEXT_SHARE) - len(head) - len(end))
    return head + context[:room] + end


def with_context(layout: Layout, lead: list[int]) -> Layout:
    """The layout after the context file `lead` (context_lead), the layout having been fitted to
    leave it room. Where the window's file starts with the marker that ended the context (ours:
    EOS), the two are one."""
    if layout.ids and lead and lead[-1] == layout.ids[0]:
        lead = lead[:-1]
    shift = len(lead)
    return Layout(lead + layout.ids, [Span(s.start + shift, s.length, s.hole) for s in layout.spans])


def fit_around(left: list[int], core: list[int], right: list[int], limit: int) -> tuple[list[int], int]:
    """left's end + core + right's start within limit; returns the ids and where core starts."""
    room = max(0, limit - len(core))
    n_right = min(len(right), max(int(room * SUFFIX_SHARE), room - len(left)))
    n_left = min(len(left), room - n_right)
    return left[len(left) - n_left :] + core + right[:n_right], n_left


def _as_file(prefix: list[int], suffix: list[int], eos: int | None, start: Start) -> tuple[list[int], list[int]]:
    """A prefix that starts the file keeps the family's start marker, a suffix that ends it its
    end-of-text marker, as the model saw files in training: whatever the window cuts off takes
    its marker with it."""
    first = _start_id(start, eos)
    return ([first] if first is not None else []) + prefix, suffix + ([eos] if eos is not None else [])


def fit_window(
    prefix: list[int], suffix: list[int], budget: int, limit: int, eos: int | None, start: Start = "eos"
) -> Layout:
    """One gap of `budget` positions (at most limit - 2) between the prefix's end and the suffix's start."""
    prefix, suffix = _as_file(prefix, suffix, eos, start)
    budget = min(budget, limit - 2)
    ids, at = fit_around(prefix, [0] * budget, suffix, limit)
    return Layout(ids, [Span(at, budget, 0)])


def groups(between: list[list[int]], budget: int, limit: int) -> list[tuple[int, int]]:
    """Runs of neighbouring holes (first, last) whose budgets and the text between them fit in
    the window with RESERVE_SHARE left over for context."""
    n = len(between) + 1
    cap = max(budget, int(limit * (1 - RESERVE_SHARE)))
    out, first = [], 0
    while first < n:
        last, size = first, budget
        while last + 1 < n and size + len(between[last]) + budget <= cap:
            size += len(between[last]) + budget
            last += 1
        out.append((first, last))
        first = last + 1
    return out


def joint_layouts(
    prefix: list[int],
    holes: list[list[int]],
    between: list[list[int]],
    suffix: list[int],
    budget: int,
    limit: int,
    eos: int | None,
    start: Start = "eos",
) -> list[Layout]:
    """One layout per group of holes, each hole given `budget` positions."""
    prefix, suffix = _as_file(prefix, suffix, eos, start)
    budget = max(1, min(budget, limit - 2))
    layouts = []
    for first, last in groups(between, budget, limit):
        left = list(prefix)
        for k in range(first):
            left += holes[k] + between[k]
        right: list[int] = []
        for k in range(last, len(holes) - 1):
            right += between[k] + holes[k + 1]
        right += suffix
        core: list[int] = []
        offsets = []
        for k in range(first, last + 1):
            offsets.append(len(core))
            core += [0] * budget
            if k < last:
                core += between[k]
        ids, at = fit_around(left, core, right, limit)
        layouts.append(Layout(ids, [Span(at + o, budget, first + i) for i, o in enumerate(offsets)]))
    return layouts
