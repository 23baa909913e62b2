"""One gap, filled: send the context to the worker, then offer the best candidate that survives
the clean-up chain and parses in context. Knows nothing of JSON-RPC.

A candidate is offered (1) whole, if one parses as it is; else (2) repaired: the tokens under its
syntax errors are re-masked and written again by the model with everything else fixed, up to
REPAIR_ROUNDS times (TYPING_REPAIR_ROUNDS for as-you-type requests), which only a model that sees
both sides can do; else (3), unless the caller
wants speed (as-you-type requests), from a second, sampled set of candidates (temperature
RESAMPLE_TEMPERATURE, RESAMPLES per budget), whole; else (4) cut back to its longest run of whole
lines that parses. Otherwise nothing is offered.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import tree_sitter as ts

from lsp.fill.gaps import Gap
from lsp.fill.postprocess import clean, error_ranges, longest_parsing_prefix, parses, parses_worse
from lsp.fill.trees import edited, reparse
from lsp.worker.client import WorkerClient
from model.wire.protocol import Candidate, SamplerSettings
from model.wire.sampling import SAMPLER_DEFAULTS

log = logging.getLogger("fillgap.fill")

# Characters of context sent to the worker; it keeps what fits its window, in tokens.
PREFIX_CHARS = 6000
SUFFIX_CHARS = 3000
REPAIR_ROUNDS = 2
# As-you-type (profile "typing"): one round. Each round is a fill of its own (a full pass, then
# steps // 2 cached ones), so repaired fills made the typing p95; on 100 held-out typing positions
# a second round offered no more fills.
TYPING_REPAIR_ROUNDS = 1
RESAMPLE_TEMPERATURE = 0.8
RESAMPLES = 2  # sampled candidates per length budget (with the dual cache, to keep the second try cheap)


def tau_of(sampler: SamplerSettings) -> float:
    """The confidence under which a token is a doubt: the user's tau, else the base default. (No
    family sets its own tau; the worker re-masks under the same one when refining.)"""
    return float(sampler.tau if sampler.tau is not None else SAMPLER_DEFAULTS["tau"])


@dataclass(frozen=True)
class Suggestion:
    gap: Gap
    text: str
    confidence: float
    doubts: tuple[tuple[int, int], ...] = ()  # character spans of text the model stayed unsure of
    # The model's confidence in each token of `text` (whitespace-only tokens left out): what the
    # as-you-type gate scores (lsp/fill/gate.py). Empty for the rest of a suggestion typed through.
    confidences: tuple[float, ...] = ()
    # How fill_gap came by it (Outcome.how; "" when it did not), and whether the model's top
    # candidate, cleaned up, parsed as it was: issue 17's raw parse share, which the eval reports.
    how: str = ""
    top_parsed: bool = False


def suggestion_of(gap: Gap, text: str, candidate: Candidate, tau: float) -> Suggestion:
    """The cleaned-up `text` of `candidate` as a suggestion, with its doubts and token confidences."""
    return Suggestion(
        gap, text, candidate.mean_confidence, doubtful_spans(text, candidate, tau), kept_confidences(text, candidate)
    )


def placed_tokens(text: str, candidate: Candidate) -> list[tuple[int, int, float]]:
    """(start, end, confidence) in the cleaned-up `text` of each of the candidate's tokens, found in
    order. Clean-up only trims (trailing space, lines past a dedent, a suffix echo), so the tokens
    are found in order, and those it cut off are not the text's; whitespace-only tokens
    (indentation, line breaks) are left out, since they say little."""
    placed: list[tuple[int, int, float]] = []
    at = 0
    for token, conf in zip(candidate.tokens, candidate.confidences, strict=False):
        word = token.strip()
        if not word:
            continue
        found = text.find(word, at)
        if found < 0:
            break
        at = found + len(word)
        placed.append((found, at, conf))
    return placed


def kept_confidences(text: str, candidate: Candidate) -> tuple[float, ...]:
    """The confidences of the candidate's tokens that lie in the cleaned-up `text`."""
    return tuple(conf for _, _, conf in placed_tokens(text, candidate))


def doubtful_spans(text: str, candidate: Candidate, tau: float) -> tuple[tuple[int, int], ...]:
    """Where in the cleaned-up `text` lie the candidate's tokens under confidence tau; touching
    doubts merge."""
    spans: list[tuple[int, int]] = []
    for found, at, conf in placed_tokens(text, candidate):
        if conf >= tau:
            continue
        if spans and not text[spans[-1][1] : found].strip():
            spans[-1] = (spans[-1][0], at)
        else:
            spans.append((found, at))
    return tuple(spans)


@dataclass(frozen=True)
class Outcome:
    suggestion: Suggestion | None
    raw: str  # the best candidate as the model wrote it, before any clean-up
    how: str  # "whole", "repaired", "resampled", "cut" or "none"


async def fill_gap(
    worker: WorkerClient,
    language_id: str,
    document: str,
    gap: Gap,
    sampler: SamplerSettings,
    tree: ts.Tree | None = None,
    context: str = "",
    resample: bool = True,
    profile: str = "full",
    repair_rounds: int | None = None,
) -> Outcome:
    """Fill one gap; `tree` is the document's tree when the caller keeps one (for incremental checks),
    `context` other files' definitions the gap's code names (lsp/fill/context.py), `profile` the
    worker's ("typing": the family's as-you-type settings fill in what `sampler` leaves unset),
    `repair_rounds` at most (None: the profile's, REPAIR_ROUNDS or TYPING_REPAIR_ROUNDS)."""
    rounds = (
        repair_rounds if repair_rounds is not None else TYPING_REPAIR_ROUNDS if profile == "typing" else REPAIR_ROUNDS
    )
    prefix = document[max(0, gap.start - PREFIX_CHARS) : gap.start]
    suffix = document[gap.end : gap.end + SUFFIX_CHARS]
    tau = tau_of(sampler)
    result = await worker.fill(prefix, suffix, gap.budgets, sampler, context=context, profile=profile)
    raw = result.candidates[0].text if result.candidates else ""
    cleaned = [(t, c) for c in result.candidates if (t := clean(c.text, gap, suffix))]
    whole = _first_parsing(language_id, document, gap, cleaned, tau, tree)
    if whole is not None:
        top = whole.text == cleaned[0][0] or parses(language_id, document, gap, cleaned[0][0], tree, False)
        return Outcome(replace(whole, how="whole", top_parsed=top), raw, "whole")
    if cleaned:
        draft, first = cleaned[0]
        so_far = kept_confidences(draft, first)
        repaired = await _repair(
            worker, language_id, document, gap, prefix, suffix, draft, sampler, context, profile, tree, so_far, rounds
        )
        if repaired is not None:
            return Outcome(replace(repaired, how="repaired"), raw, "repaired")
    more: list[tuple[str, Candidate]] = []
    if resample:
        seed = (sampler.seed if sampler.seed is not None else SAMPLER_DEFAULTS["seed"]) + 1
        resampler = replace(sampler, temperature=RESAMPLE_TEMPERATURE, seed=seed, dual_cache=True)
        budgets = list(gap.budgets) * RESAMPLES
        again = await worker.fill(prefix, suffix, budgets, resampler, context=context, profile=profile)
        more = [(t, c) for c in again.candidates if (t := clean(c.text, gap, suffix))]
        whole = _first_parsing(language_id, document, gap, more, tau, tree)
        if whole is not None:
            return Outcome(replace(whole, how="resampled"), raw, "resampled")
    for text, cand in cleaned + more:
        cut = longest_parsing_prefix(language_id, document, gap, text, tree)
        if cut:
            return Outcome(replace(suggestion_of(gap, cut, cand, tau), how="cut"), raw, "cut")
    log.info("no candidate of %d parses for a %s gap", len(cleaned) + len(more), gap.kind)
    return Outcome(None, raw, "none")


def _first_parsing(
    language_id: str,
    document: str,
    gap: Gap,
    texts: list[tuple[str, Candidate]],
    tau: float,
    tree: ts.Tree | None = None,
) -> Suggestion | None:
    """The first candidate after which the whole file parses, else the first that parses in context."""
    for whole_file in (True, False):
        for text, cand in texts:
            if parses(language_id, document, gap, text, tree, whole_file):
                return suggestion_of(gap, text, cand, tau)
    return None


async def _repair(
    worker: WorkerClient,
    language_id: str,
    document: str,
    gap: Gap,
    prefix: str,
    suffix: str,
    text: str,
    sampler: SamplerSettings,
    context: str = "",
    profile: str = "full",
    tree: ts.Tree | None = None,
    confidences: tuple[float, ...] = (),
    rounds: int = REPAIR_ROUNDS,
) -> Suggestion | None:
    """Re-mask the tokens under the draft's syntax errors and let the model rewrite just those.

    A revision reports the tokens it kept at confidence 1, so the fill's `confidences` are the
    draft's (all of them, those rewritten too: what the model was unsure of stays on the record)
    and those of each token it rewrote: a repaired fill never scores above its draft's doubts."""
    for _ in range(rounds):
        ranges = error_ranges(language_id, document, gap, text, tree)
        if not ranges:
            return None
        revised = await worker.fill(
            prefix, suffix, gap.budgets, sampler, draft=text, remask=ranges, context=context, profile=profile
        )
        if not revised.candidates:
            return None
        best = revised.candidates[0]
        text = clean(best.text, gap, suffix)
        confidences += tuple(c for c in kept_confidences(text, best) if c < 1.0)
        if parses(language_id, document, gap, text, tree):
            return replace(suggestion_of(gap, text, best, tau_of(sampler)), confidences=confidences)
    return None


async def refine_span(
    worker: WorkerClient, language_id: str, document: str, gap: Gap, sampler: SamplerSettings, below: float
) -> Suggestion | None:
    """Keep document[gap.start:gap.end] as a draft and rewrite only its tokens the model scores
    under `below` (each scored with itself hidden); offered only if the result parses and differs."""
    draft = document[gap.start : gap.end]
    prefix = document[max(0, gap.start - PREFIX_CHARS) : gap.start]
    suffix = document[gap.end : gap.end + SUFFIX_CHARS]
    result = await worker.fill(prefix, suffix, gap.budgets, sampler, draft=draft, remask_below=below)
    if not result.candidates:
        return None
    best = result.candidates[0]
    text = clean(best.text, gap, suffix)
    if text and not parses(language_id, document, gap, text):  # the rewrite broke the syntax: mend that too
        draft_confidences = kept_confidences(text, best)
        repaired = await _repair(
            worker, language_id, document, gap, prefix, suffix, text, sampler, confidences=draft_confidences
        )
        return repaired if repaired is not None and repaired.text != draft else None
    if not text or text == draft:
        return None
    return suggestion_of(gap, text, best, tau_of(sampler))


async def fill_in_turn(
    worker: WorkerClient,
    language_id: str,
    document: str,
    gaps: list[Gap],
    sampler: SamplerSettings,
    tree: ts.Tree | None = None,
) -> tuple[list[Suggestion], str]:
    """Fill gaps last to first, each seeing the fills after it; offsets before each gap stay valid,
    so the suggestions (returned in document order, with the filled document) are all edits of
    the original document. `tree`, the document's, is edited along."""
    filled: list[Suggestion] = []
    for gap in reversed(gaps):
        suggestion = (await fill_gap(worker, language_id, document, gap, sampler, tree)).suggestion
        if suggestion is not None:
            if tree is not None:  # the next gap's region is found in this tree, kept current
                tree = reparse(language_id, *edited(tree, document, gap.start, gap.end, suggestion.text))
            document = apply(document, suggestion)
            filled.append(suggestion)
    return filled[::-1], document


async def fill_jointly(
    worker: WorkerClient,
    language_id: str,
    document: str,
    gaps: list[Gap],
    sampler: SamplerSettings,
    tree: ts.Tree | None = None,
) -> tuple[list[Suggestion], str]:
    """Fill every gap in one request: the worker denoises all of them in one batch, neighbours
    sharing a window (each sees the others' drafts). A hole whose candidates do not parse is then
    filled alone, through fill_gap's repair chain. Each fill is checked in the document as it was,
    and the result as a whole must not parse worse than that; else the gaps are filled in turn."""
    if len(gaps) < 2:
        return await fill_in_turn(worker, language_id, document, gaps, sampler, tree)
    result = await worker.fill(
        document[max(0, gaps[0].start - PREFIX_CHARS) : gaps[0].start],
        document[gaps[-1].end : gaps[-1].end + SUFFIX_CHARS],
        gaps[0].budgets,
        sampler,
        holes=[document[g.start : g.end] for g in gaps],
        between=[document[a.end : b.start] for a, b in zip(gaps, gaps[1:], strict=False)],
    )
    filled: list[Suggestion] = []
    for i, gap in enumerate(gaps):
        suffix = document[gap.end : gap.end + SUFFIX_CHARS]
        mine = [(t, c) for c in result.candidates if c.hole == i and (t := clean(c.text, gap, suffix))]
        suggestion = _first_parsing(language_id, document, gap, mine, tau_of(sampler), tree)
        if suggestion is None:
            suggestion = (await fill_gap(worker, language_id, document, gap, sampler, tree)).suggestion
        if suggestion is not None:
            filled.append(suggestion)
    after = document
    for suggestion in reversed(filled):
        after = apply(after, suggestion)
    if parses_worse(language_id, document, [(s.gap.start, s.gap.end, s.text) for s in filled], tree):
        log.info("joint fills parse alone but not together; filling in turn")
        return await fill_in_turn(worker, language_id, document, gaps, sampler, tree)
    return filled, after


def apply(document: str, suggestion: Suggestion) -> str:
    return document[: suggestion.gap.start] + suggestion.text + document[suggestion.gap.end :]
