"""What a suggestion says of how it came about: whether the model's top candidate parsed as it was
written (issue 17's raw parse share, which `fillgap eval` reports from the server's items). The
worker is a stand-in that answers with fixed candidates, best first."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

from lsp.fill.gaps import Gap
from lsp.fill.pipeline import Outcome, fill_gap
from lsp.worker.client import WorkerClient
from model.wire.protocol import Candidate, FillResult, SamplerSettings

DOCUMENT = "def area(w, h):\n    return \n"
AT = len("def area(w, h):\n    return ")
GAP = Gap("line", AT, AT, "    ", (8,))
BROKEN = Candidate("w * (h", 8, 0.5, ["w", " *", " (", "h"], [0.5] * 4)
GOOD = Candidate("w * h", 8, 0.6, ["w", " *", " h"], [0.6] * 3)
NO_PREFIX = Candidate(")) *", 8, 0.4, [")", ")", " *"], [0.4] * 3)  # no run of its words parses either


class Answers:
    def __init__(self, *candidates: Candidate) -> None:
        self.candidates = list(candidates)

    async def fill(
        self, prefix: str, suffix: str, budgets: Sequence[int], sampler: SamplerSettings, **kw: Any
    ) -> FillResult:
        return FillResult(1, self.candidates, 1.0, 1)


def _fill(*candidates: Candidate) -> Outcome:
    worker = cast(WorkerClient, Answers(*candidates))
    return asyncio.run(fill_gap(worker, "python", DOCUMENT, GAP, SamplerSettings(), resample=False, repair_rounds=0))


def test_a_top_candidate_that_parses_is_offered_as_the_model_wrote_it() -> None:
    outcome = _fill(GOOD, BROKEN)
    assert outcome.suggestion is not None and outcome.suggestion.text == "w * h"
    assert outcome.suggestion.how == "whole" and outcome.suggestion.top_parsed


def test_a_later_candidate_offered_whole_does_not_count_as_the_top_one_parsing() -> None:
    outcome = _fill(BROKEN, GOOD)
    assert outcome.suggestion is not None and outcome.suggestion.text == "w * h"
    assert outcome.suggestion.how == "whole" and not outcome.suggestion.top_parsed


def test_a_line_that_parses_nowhere_is_cut_to_the_words_that_do() -> None:
    outcome = _fill(BROKEN)
    assert outcome.suggestion is not None and outcome.suggestion.text == "w" and outcome.how == "cut"
    assert not outcome.suggestion.top_parsed


def test_nothing_that_parses_offers_nothing() -> None:
    outcome = _fill(NO_PREFIX)
    assert outcome.suggestion is None and outcome.how == "none"
