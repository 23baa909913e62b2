"""Token layouts for joint fills and cross-file context, and the engine filling several holes at once."""

from __future__ import annotations

from model.checkpoint import DEFAULT_CHECKPOINT
from model.engine import load_engine
from model.layout import CONTEXT_SHARE, Layout, Span, groups, joint_layouts, with_context
from model.wire.protocol import FillRequest

EOS = 1


def test_neighbouring_holes_share_a_window_and_far_ones_get_their_own() -> None:
    assert groups([[5] * 10, [5] * 10], budget=16, limit=256) == [(0, 2)]
    assert groups([[5] * 10, [5] * 300], budget=16, limit=256) == [(0, 1), (2, 2)]


def test_each_hole_sits_between_its_own_neighbours() -> None:
    prefix, suffix = [10, 11], [90, 91]
    holes, between = [[20], [21], [22]], [[30, 31], [40] * 300]
    layouts = joint_layouts(prefix, holes, between, suffix, budget=4, limit=64, eos=EOS)
    assert [[s.hole for s in lay.spans] for lay in layouts] == [[0, 1], [2]]
    first, second = layouts
    assert all(len(lay.ids) <= 64 for lay in layouts)
    a, b = first.spans
    assert first.ids[: a.start] == [EOS, 10, 11]
    assert first.ids[a.start + 4 : b.start] == [30, 31]  # the text between the two holes
    assert first.ids[b.start + 4 :][:3] == [40, 40, 40]
    (c,) = second.spans
    assert second.ids[c.start - 1] == 40 and second.ids[c.start + 4 :] == [90, 91, EOS]


def test_context_comes_first_as_a_file_of_its_own_within_its_share() -> None:
    layout = Layout([EOS, 7, 0, 0, 8], [Span(2, 2, 0)])
    long = list(range(100, 300))
    placed = with_context(layout, long, limit=256, eos=EOS)
    n = int(256 * CONTEXT_SHARE) - 1
    assert placed.ids[:n] == long[:n] and placed.ids[n:] == layout.ids  # the window's own EOS ends it
    assert placed.spans == [Span(2 + n, 2, 0)]
    assert with_context(Layout([7, 0, 8], [Span(1, 1, 0)]), [5], 256, EOS).ids == [5, EOS, 7, 0, 8]


def test_the_engine_fills_every_hole_of_a_joint_request_in_one_batch() -> None:
    engine = load_engine(DEFAULT_CHECKPOINT, threads=1)
    holes = ["pass", "pass", "pass"]
    between = ["\n\n\ndef b(x):\n    ", "\n\n\ndef c(x):\n    "]
    req = FillRequest(id=3, prefix="def a(x):\n    ", suffix="\n", budgets=[8, 16], holes=holes, between=between)
    result = engine.fill(req)
    assert sorted({c.hole for c in result.candidates}) == [0, 1, 2]
    assert len(result.candidates) == 6 and {c.budget for c in result.candidates} == {8, 16}
    plain = engine.fill(FillRequest(id=4, prefix="def a(x):\n    ", suffix="\n", budgets=[8]))
    assert result.forward_passes <= 2 * plain.forward_passes + 8  # one denoising run, not one per hole


def test_context_changes_what_the_model_sees() -> None:
    engine = load_engine(DEFAULT_CHECKPOINT, threads=1)
    base = FillRequest(id=5, prefix="def total(rects):\n    return ", suffix="\n", budgets=[8])
    with_ctx = FillRequest(**{**base.__dict__, "id": 6, "context": "# geo.py\ndef area(w, h): ...\n"})
    a, b = engine.fill(base), engine.fill(with_ctx)
    assert a.candidates and b.candidates
    assert (a.candidates[0].text, a.candidates[0].confidences) != (b.candidates[0].text, b.candidates[0].confidences)


def test_joint_requests_round_trip_and_malformed_holes_are_refused() -> None:
    import pytest

    from model.wire.protocol import ProtocolError, to_wire
    from model.wire.protocol import from_wire as parse_wire

    req = FillRequest(id=7, prefix="a", suffix="b", holes=["pass", "pass"], between=["x"], context="# c\n")
    assert parse_wire(to_wire(req)) == req
    for bad in ({"holes": ["pass", "pass"], "between": []}, {"holes": ["pass"], "between": [], "draft": "d"},
                {"holes": [1]}, {"context": 3}):
        with pytest.raises(ProtocolError):
            parse_wire({**to_wire(FillRequest(id=8, prefix="a", suffix="b")), **bad})
