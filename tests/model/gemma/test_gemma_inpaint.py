"""DiffusionGemma's inpainting layout: budgets free, suffix and between-hole text held, on canvases
of Gemma's ids (pad 0, eos 1), and the holes' text read back cut at the first end-of-text/pad."""

from __future__ import annotations

import random

import pytest

from model.gemma_inpaint import Plan, done_after, hole_tokens, layout
from tests.model.gemma.published import SPECIAL_TOKENS

PAD, EOS = SPECIAL_TOKENS["<pad>"], SPECIAL_TOKENS["<eos>"]
STOPS = {PAD, EOS}
C = 32


def _ids(start: int, n: int) -> list[int]:
    return list(range(start, start + n))


def _plan(budgets: list[int], between: list[list[int]], suffix: list[int], **kw: object) -> Plan:
    kw = {"pad_id": PAD, "eos_id": EOS, "ends_text": False, "min_held": 8, **kw}
    return layout(budgets, between, suffix, C, **kw)  # type: ignore[arg-type]


def test_a_short_gap_is_its_budget_then_the_suffix_held() -> None:
    suffix = _ids(1000, 40)
    [canvas] = _plan([12], [], suffix).canvases
    assert canvas.held == [False] * 12 + [True] * 20 and canvas.hole == [0] * 12 + [-1] * 20
    assert canvas.tokens[12:] == suffix[:20] and canvas.prelude == []


def test_at_the_end_of_the_file_end_of_text_follows_the_suffix_then_pads() -> None:
    [canvas] = _plan([12], [], _ids(1000, 5), ends_text=True).canvases
    assert canvas.tokens[12:] == [*_ids(1000, 5), EOS] + [PAD] * 14 and all(canvas.held[12:])


def test_a_long_gap_fills_whole_canvases_and_only_the_last_sees_the_suffix() -> None:
    plan = _plan([70], [], _ids(1000, 64))
    assert [c.held.count(False) for c in plan.canvases] == [32, 32, 6] and plan.free == [70]
    assert not any(plan.canvases[0].held) and not any(plan.canvases[1].held)
    assert plan.canvases[2].tokens[6:] == _ids(1000, 26)
    # A budget of whole canvases would leave the last none of the suffix: it gives up min_held positions.
    cut = _plan([64], [], _ids(1000, 64))
    assert cut.free == [56] and cut.canvases[-1].tokens[24:] == _ids(1000, 8)


def test_holes_that_fit_share_a_canvas_with_the_text_between_them_held() -> None:
    [canvas] = _plan([6, 5], [_ids(2000, 10)], _ids(1000, 30)).canvases
    assert canvas.hole == [0] * 6 + [-1] * 10 + [1] * 5 + [-1] * 11
    assert canvas.tokens[6:16] == _ids(2000, 10) and canvas.tokens[21:] == _ids(1000, 11)
    # A hole that fits a canvas of its own is not split across two.
    plan = _plan([20, 20], [_ids(2000, 4)], _ids(1000, 30))
    assert [set(c.hole) - {-1} for c in plan.canvases] == [{0}, {1}]
    assert plan.canvases[0].tokens[20:] == _ids(2000, 4) + [PAD] * 8  # held pads: nothing else goes there


def test_between_text_longer_than_the_room_is_read_by_the_encoder_before_the_next_canvas() -> None:
    plan = _plan([4, 4], [_ids(2000, 50)], _ids(1000, 30))
    assert plan.canvases[0].tokens[4:] == _ids(2000, 28) and plan.canvases[1].prelude == _ids(2050 - 22, 22)


def _stream(plan: Plan) -> list[object]:
    """What the canvases and preludes say, in order, held pads left out: the text the fill makes."""
    out: list[object] = []
    for canvas in plan.canvases:
        out += canvas.prelude
        out += [("hole", h) if h >= 0 else t for t, h in zip(canvas.tokens, canvas.hole, strict=True) if h >= 0 or t]
    return out


@pytest.mark.parametrize("seed", range(40))
def test_any_layout_keeps_the_text_in_order_and_the_suffix_in_sight(seed: int) -> None:
    rng = random.Random(seed)
    budgets = [rng.randint(1, 80) for _ in range(rng.randint(1, 4))]
    between = [_ids(2000 + 100 * i, rng.randint(0, 60)) for i in range(len(budgets) - 1)]
    suffix = _ids(1000, rng.randint(0, 70))
    plan = _plan(budgets, between, suffix, ends_text=rng.random() < 0.5)
    assert all(len(c.tokens) == len(c.held) == len(c.hole) == C for c in plan.canvases)
    assert all(b - 8 <= f <= b for b, f in zip(budgets, plan.free, strict=True))
    want: list[object] = []
    for h, free in enumerate(plan.free):
        want += [("hole", h)] * free + (between[h] if h < len(between) else [])
    got = _stream(plan)
    assert got[: len(want)] == want and got[len(want) :] == (suffix + [EOS])[: len(got) - len(want)]
    last = plan.canvases[-1]
    tail = len(last.hole) - 1 - last.hole[::-1].index(len(budgets) - 1)  # the last hole's last position
    assert last.held[tail + 1 :].count(True) == C - tail - 1 and C - tail - 1 >= min(8, len(suffix))


def test_the_holes_text_stops_at_the_first_end_of_text_and_later_canvases_can_be_skipped() -> None:
    plan = _plan([40], [], _ids(1000, 30))
    first = [*_ids(500, 10), EOS, *_ids(600, 21)]
    assert done_after(plan, 0, [first], STOPS)  # the gap ended in its first canvas
    assert hole_tokens(plan, [first], STOPS) == [[(0, i) for i in range(10)]]
    running = _ids(500, 32)
    assert not done_after(plan, 0, [running], STOPS)
    second = [*_ids(700, 3), PAD, *_ids(800, 4), *plan.canvases[1].tokens[8:]]
    assert hole_tokens(plan, [running, second], STOPS) == [[(0, i) for i in range(32)] + [(1, 0), (1, 1), (1, 2)]]
    # Held suffix ids are never taken for the hole's text, whatever they are.
    [canvas] = _plan([4], [], [EOS, *_ids(1000, 30)]).canvases
    assert hole_tokens(Plan([canvas], [4]), [[9, 9, 9, 9, *canvas.tokens[4:]]], STOPS) == [[(0, i) for i in range(4)]]


def test_layouts_that_cannot_be_made_are_refused() -> None:
    with pytest.raises(ValueError, match="one budget per hole"):
        _plan([4, 4], [], [])
    with pytest.raises(ValueError, match="longer than min_held"):
        _plan([4], [], [], min_held=40)
