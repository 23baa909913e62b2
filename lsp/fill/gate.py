"""The as-you-type gate: a fill the model itself rates unlikely, or a trivial one, is not shown as
ghost text while the user types. An explicit request (an invoked inline completion, a code
action, a command) is never gated: the user asked, and gets what the model has.

The score is the geometric mean of the model's confidences in the fill's tokens (the confidence at
which each was unmasked, as the worker returns it with each candidate; whitespace-only tokens
left out), a probability in [0, 1]. Of the scores measured on held-out stdlib lines at the
typing profile (`fillgap measure --calibrate-gate`, results/gate-calibration.json), it separates
fills that match the original from those that do not as well as any among fills of about the
same length (AUC 0.85, the arithmetic mean 0.85, min 0.81, product 0.79; with the stage-7
weights' earlier typing profile, one 32-token row and one refinement round, 0.74 against min 0.73
and product 0.74). Over all fills min and product score about as high (0.90 each, geomean 0.91), but
partly because right fills are short (`else:`) and length alone scores 0.86: a gate on them
would favour short fills, not likely ones.
The threshold is the setting `typing.gate`; 0 turns the gate off, trivial fills included. Unset,
it is the one calibrated for the model's weights, which the worker reports (`Ready.typing_gate`);
a model with none gets TRIVIAL_ONLY: its score holds nothing back, a trivial fill still is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import tree_sitter as ts

from lsp.fill.pipeline import Suggestion
from lsp.fill.trivial import trivial_fill

FLOOR = 1e-6  # a confidence of 0 (never sent, but possible in a revision) would make the log -inf
TRIVIAL_ONLY = FLOOR  # a threshold every scored fill reaches: the gate then holds back trivial fills only


def geometric_mean(confidences: Sequence[float]) -> float:
    return math.exp(sum(math.log(max(c, FLOOR)) for c in confidences) / len(confidences))


def arithmetic_mean(confidences: Sequence[float]) -> float:
    return sum(confidences) / len(confidences)


def least(confidences: Sequence[float]) -> float:
    return min(confidences)


def product(confidences: Sequence[float]) -> float:
    """The fill's probability as a whole: longer fills score lower."""
    return math.exp(sum(math.log(max(c, FLOOR)) for c in confidences))


# The scores the calibration compares (by AUC); SCORE is the one the gate uses.
SCORES: dict[str, Callable[[Sequence[float]], float]] = {
    "geomean": geometric_mean,
    "mean": arithmetic_mean,
    "min": least,
    "product": product,
}
SCORE = "geomean"
# The thresholds the calibration and the eval's curve try: fine where the scores lie (most under 0.3).
THRESHOLDS = (0.0, *(round(0.02 * i, 2) for i in range(1, 16)), *(round(0.05 * i, 2) for i in range(7, 20)))


def score(suggestion: Suggestion, kind: str = SCORE) -> float:
    """The suggestion's score; one with no token confidences (none lay in its text) falls back on
    the candidate's mean confidence over its whole budget."""
    if not suggestion.confidences:
        return suggestion.confidence
    return SCORES[kind](suggestion.confidences)


def all_scores(suggestion: Suggestion) -> dict[str, float]:
    """Every score of SCORES (rounded), for the eval: its curve can be drawn for any of them later."""
    return {kind: round(score(suggestion, kind), 4) for kind in SCORES}


def threshold(setting: float | None, calibrated: float = 0.0) -> float:
    """The gate in force: the user's `typing.gate` when set, else the model's calibrated one
    (0: it has none), else TRIVIAL_ONLY."""
    if setting is not None:
        return setting
    return calibrated if calibrated > 0 else TRIVIAL_ONLY


@dataclass(frozen=True)
class Verdict:
    score: float
    trivial: bool

    def shown(self, threshold: float) -> bool:
        """Whether a typed request shows it, under gate `threshold` (0: the gate is off)."""
        return threshold <= 0 or (not self.trivial and self.score >= threshold)


def judge(language_id: str, document: str, suggestion: Suggestion, tree: ts.Tree | None = None) -> Verdict:
    """The suggestion's score, and whether it leaves its function trivial (lsp/fill/trivial.py);
    `document` is the text the suggestion was made for, `tree` its tree when the caller keeps one."""
    trivial = trivial_fill(language_id, document, suggestion.gap, suggestion.text, tree)
    return Verdict(score(suggestion), trivial)


def shown_while_typing(
    language_id: str, document: str, suggestion: Suggestion, threshold: float, tree: ts.Tree | None = None
) -> bool:
    """Whether a typed (automatic) request shows the suggestion; the trivial check (a parse of the
    gap's region) is skipped when the score already rules it out, or the gate is off."""
    if threshold <= 0:
        return True
    if score(suggestion) < threshold:
        return False
    return not trivial_fill(language_id, document, suggestion.gap, suggestion.text, tree)
