"""One gap, filled: send the context to the worker, then offer the best candidate that survives
the clean-up chain and parses in context. Knows nothing of JSON-RPC.

A candidate is offered (1) whole, if one parses as it is; else (2) repaired: the tokens under its
syntax errors are re-masked and written again by the model with everything else fixed, up to
REPAIR_ROUNDS times, which only a model that sees both sides can do; else (3) cut back to its
longest run of whole lines that parses. Otherwise nothing is offered.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from lsp.gaps import Gap
from lsp.postprocess import clean, error_ranges, longest_parsing_prefix, parses
from lsp.worker_client import WorkerClient
from model.protocol import SamplerSettings

log = logging.getLogger("fillgap.fill")

# Characters of context sent to the worker; it keeps what fits its window, in tokens.
PREFIX_CHARS = 6000
SUFFIX_CHARS = 3000
REPAIR_ROUNDS = 2


@dataclass(frozen=True)
class Suggestion:
    gap: Gap
    text: str
    confidence: float


@dataclass(frozen=True)
class Outcome:
    suggestion: Suggestion | None
    raw: str  # the best candidate as the model wrote it, before any clean-up
    how: str  # "whole", "repaired", "cut" or "none"


async def fill_gap(
    worker: WorkerClient, language_id: str, document: str, gap: Gap, sampler: SamplerSettings
) -> Outcome:
    prefix = document[max(0, gap.start - PREFIX_CHARS) : gap.start]
    suffix = document[gap.end : gap.end + SUFFIX_CHARS]
    result = await worker.fill(prefix, suffix, gap.budgets, sampler)
    raw = result.candidates[0].text if result.candidates else ""
    cleaned = [(clean(c.text, gap, suffix), c.mean_confidence) for c in result.candidates]
    cleaned = [(text, conf) for text, conf in cleaned if text]
    for text, conf in cleaned:
        if parses(language_id, document, gap, text):
            return Outcome(Suggestion(gap, text, conf), raw, "whole")
    if cleaned:
        text, conf = cleaned[0]
        for _ in range(REPAIR_ROUNDS):
            ranges = error_ranges(language_id, document, gap, text)
            if not ranges:
                break
            revised = await worker.fill(prefix, suffix, gap.budgets, sampler, draft=text, remask=ranges)
            text = clean(revised.candidates[0].text, gap, suffix) if revised.candidates else ""
            if parses(language_id, document, gap, text):
                return Outcome(Suggestion(gap, text, revised.candidates[0].mean_confidence), raw, "repaired")
    for text, conf in cleaned:
        cut = longest_parsing_prefix(language_id, document, gap, text)
        if cut:
            return Outcome(Suggestion(gap, cut, conf), raw, "cut")
    log.info("no candidate of %d parses for a %s gap", len(result.candidates), gap.kind)
    return Outcome(None, raw, "none")


def apply(document: str, suggestion: Suggestion) -> str:
    return document[: suggestion.gap.start] + suggestion.text + document[suggestion.gap.end :]
