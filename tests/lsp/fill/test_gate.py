"""The as-you-type gate: the score of a fill, the trivial-body detector, the setting, the calibration
and eval curves, and a typed request held back while an invoked one is answered (stand-in worker;
the real worker's end-to-end test is tests/lsp/server/test_gate_e2e.py)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lsp.eval.calibrate import Fill, auc, choose, curve, line_cases, same_length_auc
from lsp.eval.gating import gate_report
from lsp.eval.harness import Record
from lsp.fill.gaps import Gap
from lsp.fill.gate import SCORES, TRIVIAL_ONLY, Verdict, judge, score, shown_while_typing, threshold
from lsp.fill.pipeline import Suggestion, kept_confidences, suggestion_of
from lsp.fill.settings import from_options
from lsp.fill.trivial import trivial_fill, trivial_source
from lsp.server.features import inline_completion
from model.wire.protocol import Candidate, SamplerSettings
from tests.lsp.server.test_handlers import FILL, URI, StandInWorker, _inline_params, _open, _server


def _suggestion(text: str, confidences: tuple[float, ...], gap: Gap | None = None) -> Suggestion:
    return Suggestion(gap or Gap("lines", 0, 0, "", (8,)), text, 0.9, (), confidences)


def test_the_score_is_the_geometric_mean_of_the_tokens_in_the_fill() -> None:
    cand = Candidate(
        "return w * h\n    x",
        16,
        0.9,
        tokens=["return", " w", " *", " h", "\n", "    ", "x"],
        confidences=[0.9, 0.4, 0.8, 0.5, 0.1, 0.1, 0.01],
    )
    # clean-up cut the line after the dedent; whitespace tokens are no evidence either way
    assert kept_confidences("return w * h", cand) == (0.9, 0.4, 0.8, 0.5)
    s = suggestion_of(Gap("lines", 0, 0, "", (16,)), "return w * h", cand, 0.5)
    assert score(s) == pytest.approx((0.9 * 0.4 * 0.8 * 0.5) ** 0.25)
    assert score(s, "min") == 0.4 and score(s, "mean") == pytest.approx(0.65)
    assert score(s, "product") == pytest.approx(0.144)
    assert score(_suggestion("x", ())) == 0.9  # no token found in the text: the candidate's mean
    assert math.isfinite(score(_suggestion("x", (0.0, 1.0))))


TRIVIAL = [  # (language, source, the fill's line, trivial?)
    ("python", 'def area(r):\n    """Area of a circle."""\n    return None\n', "return None", True),
    ("python", 'def area(r):\n    """Area of a circle."""\n    return 3.14 * r * r\n', "return 3.14 * r * r", False),
    ("python", "def area(r):\n    return 0\n", "return 0", True),
    ("python", "def zero():\n    return 0\n", "return 0", False),  # a constant function may return one
    ("python", "def name(self):\n    return 'x'\n", "return 'x'", False),  # self is not a parameter passed
    ("python", "def area(self, r):\n    # c\n    return (1, [])\n", "return (1, [])", True),
    ("python", "def area(r):\n    raise NotImplementedError('later')\n", "raise NotImplementedError('later')", True),
    ("python", "def area(r):\n    raise ValueError(r)\n", "raise ValueError(r)", False),
    ("python", "def area(r):\n    pass\n", "pass", True),
    ("python", "def area(r):\n    ...\n", "...", True),
    ("python", "def area(r):\n    return\n", "return", True),
    ("python", "def area(r):\n    x = r\n    return None\n", "return None", False),  # among real statements
    ("python", "def area(r):\n    return f'{r}'\n", "return f'{r}'", False),
    ("python", "x = None\n", "x = None", False),  # no function
    ("python", "def outer(a):\n    def inner(b):\n        return None\n    return inner\n", "return None", True),
    ("javascript", "function f(a) {\n  return null;\n}\n", "return null;", True),
    ("javascript", "function f(a) {\n  return a + 1;\n}\n", "return a + 1;", False),
    ("javascript", "const g = (a) => 0;\n", "0", True),
    ("typescript", "class C { m(x: number): void {\n  return;\n} }\n", "return;", True),
    ("go", "func f(a, b int) int {\n\treturn nil\n}\n", "return nil", True),
    ("go", "func f(a, b int) int {\n\treturn a + b\n}\n", "return a + b", False),
    ("rust", "fn f(&self, a: i32) -> i32 {\n    0\n}\n", "0", True),
    ("rust", "fn f(&self) -> i32 {\n    0\n}\n", "0", False),
    ("rust", "fn f(a: i32) -> Option<i32> {\n    return None;\n}\n", "return None;", True),
    ("rust", "fn f(a: i32) -> i32 {\n    a * 2\n}\n", "a * 2", False),
]


@pytest.mark.parametrize(("language", "source", "line", "trivial"), TRIVIAL)
def test_trivial_bodies_are_found_by_language(language: str, source: str, line: str, trivial: bool) -> None:
    start = source.index(line)
    assert trivial_source(language, source, start, start + len(line)) is trivial
    # the same, as a fill not yet made: the gap holds nothing, the text goes in
    document = source[:start] + source[start + len(line) :]
    gap = Gap("line", start, start, "", (8,))
    assert trivial_fill(language, document, gap, line) is trivial


def test_a_typed_request_shows_only_likely_untrivial_fills() -> None:
    doc = 'def area(r):\n    """Area of a circle."""\n    \n'
    at = doc.index("    \n") + 4
    gap = Gap("lines", at, at, "    ", (8,))
    likely, unlikely = (0.9, 0.8, 0.9), (0.2, 0.1, 0.3)
    assert shown_while_typing("python", doc, _suggestion("return 3.14 * r * r", likely, gap), 0.5)
    assert not shown_while_typing("python", doc, _suggestion("return 3.14 * r * r", unlikely, gap), 0.5)
    assert not shown_while_typing("python", doc, _suggestion("return None", likely, gap), 0.5)
    assert shown_while_typing("python", doc, _suggestion("return None", unlikely, gap), 0)  # 0: off
    assert judge("python", doc, _suggestion("return None", likely, gap)) == Verdict(
        score=pytest.approx(0.8653, abs=1e-3), trivial=True
    )
    assert Verdict(0.3, False).shown(0) and not Verdict(0.3, False).shown(0.5) and not Verdict(0.9, True).shown(0.5)


def test_the_gate_setting_is_a_probability() -> None:
    assert from_options({"typing": {"gate": 0}}).typing.gate == 0
    assert from_options({}).typing.gate is None  # unset: the model's own
    with pytest.raises(ValueError, match="typing.gate must be 0 to 1"):
        from_options({"typing": {"gate": 1.5}})


def test_the_gate_in_force_is_the_users_else_the_models_else_trivial_fills_only() -> None:
    assert threshold(0.3, calibrated=0.14) == 0.3 and threshold(0, calibrated=0.14) == 0  # set: as set, 0 off
    assert threshold(None, calibrated=0.14) == 0.14
    assert threshold(None, calibrated=0.0) == TRIVIAL_ONLY  # a model nobody calibrated
    doc = "def area(r):\n    pass\n"
    gap = Gap("body", doc.index("pass"), doc.index("pass") + 4, "    ", (16,))
    barely = (0.001,) * 4  # a score far under any calibrated gate
    assert shown_while_typing("python", doc, _suggestion("return 3.14 * r * r", barely, gap), TRIVIAL_ONLY)
    assert not shown_while_typing("python", doc, _suggestion("return None", (0.99,) * 2, gap), TRIVIAL_ONLY)


def _fill(right: bool, geomean: float, trivial: bool = False, offered: bool = True) -> Fill:
    scores = {"geomean": geomean, "mean": geomean, "min": geomean, "product": geomean}
    return Fill("f.py", 1, "x", "x" if offered else None, right, trivial, scores if offered else {}, "whole", 1.0)


def test_calibration_curve_auc_and_the_suggested_threshold() -> None:
    fills = [_fill(True, 0.9), _fill(True, 0.7), _fill(False, 0.8), _fill(False, 0.2), _fill(False, 0.9, trivial=True)]
    fills.append(_fill(False, 0, offered=False))
    assert auc([0.9, 0.7], [0.8, 0.2]) == 0.75 and auc([1.0], [1.0]) == 0.5 and auc([], [0.1]) is None
    rows = {r["threshold"]: r for r in curve(fills, thresholds=(0.0, 0.5, 0.75, 0.85))}
    assert rows[0.0]["shown"] == 5 and rows[0.0]["precision"] == pytest.approx(0.4)  # gate off: trivial shown
    assert rows[0.5]["shown"] == 3 and rows[0.5]["right_kept"] == 1.0
    assert rows[0.75]["shown"] == 2 and rows[0.75]["precision"] == 0.5 and rows[0.85]["right_kept"] == 0.5
    assert rows[0.5]["offered"] == pytest.approx(3 / 6)
    assert choose(list(rows.values())) == 0.5  # the highest keeping >= 75% of the right fills
    long_wrong = replace(_fill(False, 0.95), fill="x" * 50)  # outscores the right ones, but is not of their length
    assert (
        same_length_auc([*fills, long_wrong], "geomean") == auc([0.9, 0.7], [0.8, 0.2, 0.9]) == pytest.approx(3.5 / 6)
    )


def test_calibration_blanks_each_body_line_after_the_docstring(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text('def f(a):\n    """Doc."""\n    # note\n    b = a + 1\n\n    return b\n\nx = 1\n')
    cases = line_cases(path)
    assert [c.truth for c in cases] == ["b = a + 1", "return b"]
    first = cases[0]
    assert first.document == 'def f(a):\n    """Doc."""\n    # note\n    \n\n    return b\n\nx = 1\n'
    assert first.document[first.cursor :].startswith("\n\n    return b")


def _record(passed: bool, score: float | None, trivial: bool = False, offered: bool = True) -> Record:
    return Record(
        "t", "single", offered, passed, "ok", True, False, 1.0, "x" if offered else None, score=score, trivial=trivial
    )


def test_eval_gate_curve_from_recorded_scores() -> None:
    records = [
        _record(True, 0.8),
        _record(False, 0.3),
        _record(True, 0.9, trivial=True),
        _record(False, None, offered=False),
    ]
    report = gate_report(records, default=0.5)
    off = report["curve"][0]
    assert off["threshold"] == 0 and off["shown"] == 3 and off["precision"] == pytest.approx(2 / 3)
    at = report["at_default"]
    assert at["shown"] == 1 and at["precision"] == 1.0 and at["offered"] == 0.25 and at["pass@1"] == 0.25
    assert report["trivial"] == 1
    rescored = replace(records[1], scores=dict.fromkeys(SCORES, 0.7))  # the gate's score now, of those recorded
    assert gate_report([rescored], default=0.5)["at_default"]["shown"] == 1


class UnsureWorker(StandInWorker):
    """The stand-in, unsure of every token of its fill."""

    async def fill(self, prefix: str, suffix: str, budgets: Sequence[int], sampler: SamplerSettings, **kw: Any):
        result = await super().fill(prefix, suffix, budgets, sampler, **kw)
        result.candidates = [replace(c, tokens=c.text.split(" "), confidences=[0.2] * 4) for c in result.candidates]
        return result


async def test_the_server_holds_back_a_typed_unlikely_fill_and_answers_an_invoked_one() -> None:
    ls = _server(UnsureWorker())
    ls.settings = from_options({"debounce_ms": 0, "typing": {"gate": 0.5}})
    _open(ls)
    typed = await inline_completion.inline_completion(ls, _inline_params(2, 6, automatic=True))
    asked = await inline_completion.inline_completion(ls, _inline_params(2, 6))
    assert typed.items == [] and [i.insert_text for i in asked.items] == [FILL]
    assert asked.items[0].command is not None and asked.items[0].command.arguments == [
        URI,
        dict.fromkeys(("geomean", "mean", "min"), 0.2) | {"product": 0.0016},
        {"how": "whole", "top_parsed": True},
    ]
    assert ls.cache.counts["gated"] == 1 and ls.cache.counts["hits"] == 1  # filled once, held back, then shown
    ls.settings = from_options({"debounce_ms": 0, "typing": {"gate": 0}})
    assert (await inline_completion.inline_completion(ls, _inline_params(2, 6, automatic=True))).items


class CalibratedWorker(UnsureWorker):
    """The unsure stand-in, whose model reports a calibrated gate as the real worker's `ready` does."""

    def __init__(self, gate: float) -> None:
        super().__init__()
        self.gate = gate

    async def ensure_started(self, progress: Any = None) -> Any:
        self.ready = replace(await super().ensure_started(progress), typing_gate=self.gate)
        return self.ready


@pytest.mark.parametrize(("calibrated", "shown"), [(0.5, False), (0.1, True), (0.0, True)])
async def test_with_the_gate_unset_the_models_calibrated_gate_holds(calibrated: float, shown: bool) -> None:
    ls = _server(CalibratedWorker(calibrated))  # every token at 0.2: under 0.5, over 0.1; 0: none calibrated
    ls.settings = from_options({"debounce_ms": 0})
    _open(ls)
    typed = await inline_completion.inline_completion(ls, _inline_params(2, 6, automatic=True))
    assert bool(typed.items) is shown
