"""From a block-diffusion fill's generated tokens to a `Candidate` (text + per-token confidences).

The canvases come back whole (model/block_decode.py): the answer is cut at the first end-of-text
or end-of-turn, and a cleaning step (instruction mode's: code fences, prose, an echoed prefix,
a thought channel; model/gemma_prompt.py answer_span) keeps one slice of its text. The tokens
that overlap the slice, special ones left out, keep their confidences; the candidate's mean is
over those tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from model.wire.protocol import Candidate

Decode = Callable[[list[int]], str]
Span = Callable[[str], tuple[int, int]]  # the slice of an answer's text to keep


@dataclass(frozen=True)
class Answer:
    """The tokens a fill wrote before its end, with their confidences."""

    ids: list[int]
    confidences: list[float]


def cut(ids: Sequence[int], confidences: Sequence[float], ends: Collection[int], drop: Collection[int]) -> Answer:
    """The tokens before the first of `ends`, without any of `drop` (pad, other special tokens)."""
    kept_ids: list[int] = []
    kept_conf: list[float] = []
    for token, conf in zip(ids, confidences, strict=True):
        if token in ends:
            break
        if token not in drop:
            kept_ids.append(int(token))
            kept_conf.append(float(conf))
    return Answer(kept_ids, kept_conf)


def token_spans(decode: Decode, ids: list[int]) -> tuple[str, list[tuple[int, int]]]:
    """The text of `ids` and each token's (start, end) characters in it, from the decoded text of
    every prefix (a byte-fallback token that ends mid-character gets an empty span)."""
    spans, before = [], 0
    for i in range(len(ids)):
        now = len(decode(ids[: i + 1]))
        spans.append((min(before, now), now))
        before = max(before, now)
    return decode(ids), spans


def candidate(
    answer: Answer,
    decode: Decode,
    token_text: Callable[[int], str],
    budget: int,
    span: Span | None = None,
    drop: Collection[int] = (),
    hole: int = 0,
) -> Candidate:
    """The candidate of an answer: the slice `span` of its text keeps (all of it by default), and
    the tokens overlapping that slice, but for `drop`'s, with their confidences."""
    raw, spans = token_spans(decode, answer.ids)
    start, end = span(raw) if span is not None else (0, len(raw))
    inside = (
        [i for i, (a, b) in enumerate(spans) if a < end and b > start and answer.ids[i] not in drop]
        if end > start
        else []
    )
    confs = [round(answer.confidences[i], 4) for i in inside]
    return Candidate(
        text=raw[start:end],
        budget=budget,
        mean_confidence=round(sum(confs) / len(confs), 4) if confs else 0.0,
        tokens=[token_text(answer.ids[i]) for i in inside],
        confidences=confs,
        hole=hole,
    )
