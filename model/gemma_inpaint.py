"""DiffusionGemma's inpainting mode: where a gap's budget and the text after it sit on the canvases.

The prefix is the encoder's prompt. Each canvas (C positions) holds free positions, which the
sampler denoises, and held ones, which it keeps at their token every step (the loop in
model/block_sampler.py enforces them). A gap's budget comes first, then the first suffix tokens,
held, so the canvas is denoised knowing what follows. A budget longer than one canvas fills whole
canvases first; only its last canvas sees the suffix. For a joint fill the holes that fit one
canvas share it with the text between them held; text that cannot be held after a hole in its
canvas is read by the encoder before the next canvas (`Canvas.prelude`). Unused budget is trimmed
at the first end-of-text or pad (`hole_tokens`). Lists of ids only: the engine makes the tensors.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Canvas:
    """One canvas: `prelude` is read by the encoder after the previous canvas and before this one;
    `tokens` are the held ids where `held`, `free_id` elsewhere (the sampler draws those);
    `hole[i]` is the hole a free position belongs to, -1 at held ones."""

    prelude: list[int] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    held: list[bool] = field(default_factory=list)
    hole: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Plan:
    """The canvases in order, and how many free positions each hole got (at most its budget)."""

    canvases: list[Canvas]
    free: list[int]


class _Builder:
    def __init__(self, size: int, pad_id: int, free_id: int) -> None:
        self.size, self.pad_id, self.free_id = size, pad_id, free_id
        self.done: list[Canvas] = []
        self.cur = Canvas()

    @property
    def room(self) -> int:
        return self.size - len(self.cur.tokens)

    def has_free(self) -> bool:
        return any(h >= 0 for h in self.cur.hole)

    def free(self, hole: int, n: int) -> None:
        self.cur.tokens.extend([self.free_id] * n)
        self.cur.held.extend([False] * n)
        self.cur.hole.extend([hole] * n)

    def held(self, ids: Sequence[int]) -> None:
        self.cur.tokens.extend(ids)
        self.cur.held.extend([True] * len(ids))
        self.cur.hole.extend([-1] * len(ids))

    def close(self, prelude: Sequence[int] = ()) -> None:
        """Pad the canvas with held pads (nothing of the text belongs there) and start the next."""
        if self.cur.tokens:
            self.held([self.pad_id] * self.room)
            self.done.append(self.cur)
            self.cur = Canvas(prelude=list(prelude))
        else:  # nothing on it yet: what it was to read first still comes first
            self.cur = Canvas(prelude=[*self.cur.prelude, *prelude])


def layout(
    budgets: Sequence[int],
    between: Sequence[Sequence[int]],
    suffix: Sequence[int],
    canvas: int,
    *,
    pad_id: int,
    eos_id: int | None,
    ends_text: bool,
    free_id: int = 0,
    min_held: int = 16,
) -> Plan:
    """The canvases for holes of these budgets (one gap: one budget, no `between`), `between[i]`
    the ids between hole i and i+1, `suffix` the ids after the last (pass at least a canvas of
    them when the file has them; `ends_text`: the file ends there, so end-of-text follows it).
    Each hole's last canvas keeps room for `min_held` of the ids after it (fewer if there are
    fewer): a budget that would leave less is cut by at most that many positions."""
    if len(between) != max(len(budgets) - 1, 0) or not budgets:
        raise ValueError("one budget per hole, and one run of ids between each pair of neighbouring holes")
    if canvas <= min_held or any(b < 1 for b in budgets):
        raise ValueError(f"budgets must be >= 1 and the canvas ({canvas}) longer than min_held ({min_held})")
    tail = list(suffix) + ([eos_id] if ends_text and eos_id is not None else [])
    after = [*(list(t) for t in between), tail]
    out = _Builder(canvas, pad_id, free_id)
    free: list[int] = []
    for hole, budget in enumerate(budgets):
        free.append(_place_hole(out, hole, budget, min(min_held, len(after[hole]))))
        _place_held(out, after[hole])
    out.close()
    return Plan(out.done, free)


def _place_hole(out: _Builder, hole: int, budget: int, keep: int) -> int:
    """Free positions for one hole, whole canvases first; returns how many it got."""
    if budget > out.room - keep and budget <= out.size - keep and out.cur.tokens:
        out.close()  # it fits a canvas of its own: not split across two
    placed, left = 0, budget
    while left > out.room - keep:
        if left > out.room:  # a whole (rest of a) canvas, then the next one
            take = out.room
        else:  # the last piece would crowd out what follows: cut the budget
            take = max(out.room - keep, 0)
            left = take
        out.free(hole, take)
        placed, left = placed + take, left - take
        if left == 0:
            return placed
        out.close()
    out.free(hole, left)
    return placed + left


def _place_held(out: _Builder, ids: list[int]) -> None:
    """Held after the hole, as much as the canvas has room for; the rest is the next prelude."""
    take = min(out.room, len(ids)) if out.has_free() else 0
    out.held(ids[:take])
    if take < len(ids):
        out.close(prelude=ids[take:])


def hole_tokens(plan: Plan, outputs: Sequence[Sequence[int]], stop_ids: Collection[int]) -> list[list[tuple[int, int]]]:
    """Per hole, the (canvas, position) of each of its free positions in order, up to the first
    end-of-text or pad among them (`outputs`: each canvas's final ids; canvases not run are
    left out, so a hole whose later canvases were skipped ends where they start)."""
    per: list[list[tuple[int, int]]] = [[] for _ in plan.free]
    stopped = [False] * len(plan.free)
    for c, (canvas, ids) in enumerate(zip(plan.canvases, outputs, strict=False)):
        for pos, hole in enumerate(canvas.hole):
            if hole < 0 or stopped[hole]:
                continue
            if ids[pos] in stop_ids:
                stopped[hole] = True
            else:
                per[hole].append((c, pos))
    return per


def done_after(plan: Plan, i: int, outputs: Sequence[Sequence[int]], stop_ids: Collection[int]) -> bool:
    """Whether canvases after canvas `i` can be skipped: every hole they hold free positions for
    began at or before `i` and has already stopped (its text ended at an end-of-text or pad)."""
    later = {h for canvas in plan.canvases[i + 1 :] for h in canvas.hole if h >= 0}
    begun = {h for canvas in plan.canvases[: i + 1] for h in canvas.hole if h >= 0}
    if not later or not later <= begun:
        return not later
    stopped = set()
    for canvas, ids in zip(plan.canvases[: i + 1], outputs, strict=False):
        stopped |= {h for pos, h in enumerate(canvas.hole) if h >= 0 and ids[pos] in stop_ids}
    return later <= stopped
