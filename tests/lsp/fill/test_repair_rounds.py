"""How many syntax-repair rounds a fill gets: two for an explicit request, one as you type (each
round is a fill of its own, and repaired fills made the typing profile's p95). The worker is a
stand-in that never writes code that parses, so every round allowed is taken."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

from lsp.fill.gaps import Gap
from lsp.fill.pipeline import REPAIR_ROUNDS, TYPING_REPAIR_ROUNDS, fill_gap
from lsp.worker.client import WorkerClient
from model.wire.protocol import Candidate, FillResult, SamplerSettings

DOCUMENT = "def area(w, h):\n    return \n"
GAP = Gap("line", len("def area(w, h):\n    return "), len("def area(w, h):\n    return "), "    ", (8,))


class NeverParses:
    """Answers every fill, first or revision, with the same broken expression."""

    def __init__(self) -> None:
        self.revisions = 0

    async def fill(
        self, prefix: str, suffix: str, budgets: Sequence[int], sampler: SamplerSettings, **kw: Any
    ) -> FillResult:
        self.revisions += kw.get("draft") is not None
        return FillResult(1, [Candidate("w * (h", 8, 0.5, ["w", " *", " (", "h"], [0.5] * 4)], 1.0, 1)


def _revisions(profile: str, **kw: Any) -> tuple[int, str]:
    """(revision requests the fill made, how it ended)."""
    worker = NeverParses()
    outcome = asyncio.run(
        fill_gap(
            cast(WorkerClient, worker),
            "python",
            DOCUMENT,
            GAP,
            SamplerSettings(),
            resample=False,
            profile=profile,
            **kw,
        )
    )
    return worker.revisions, outcome.how


def test_a_typed_fill_gets_one_repair_round_and_an_asked_for_one_two() -> None:
    assert (TYPING_REPAIR_ROUNDS, REPAIR_ROUNDS) == (1, 2)
    assert _revisions("typing")[0] == 1
    assert _revisions("full")[0] == 2
    assert _revisions("typing", repair_rounds=0)[0] == 0  # the caller's count wins
