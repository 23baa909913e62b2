"""One forward pass per denoising step for every running fill: the heart of continuous batching.

Each fill runs the ordinary engine on a thread of its own (see `model/serve/batcher.py`), handed
this loop as its `passes` (model/engine.py): its sampler's plain passes post the fill's rows here
(`logits`), with the columns it wants scored, and wait. The loop thread waits until every running
fill has posted (or a short gather window has passed, so a slow one cannot stall the rest), pads
the rows on the right to one width, runs one forward pass (the engine's `SharedPass`) and hands
each fill its slice. Only the asked-for columns reach the output layer, packed as (row, column)
pairs: over a 152k vocabulary, scoring every position of 16 rows of 3,000 tokens would be some
15 GB of bfloat16 logits per pass, where a fill decodes only its gap. A fill that arrives while a
pass runs posts for the next one and joins the batch there; a cancelled fill (or one past its
deadline) is dropped at that boundary. Passes that carry a fill's own key/value cache cannot
share; they run alone between shared passes (`solo`). An engine whose rows need more than ids
(a block-diffusion decoder step: a canvas, self-conditioning logits and the fill's own encoder
cache) posts an item to a group function instead (`group`): once per step the loop calls
`fn(items)` for every fill that posted to that function, counted as one pass of sum(rows) rows.

Right padding with the key-padding mask leaves every real token's position (RoPE) and its keys
unchanged, so a row's logits are the ones it would get alone. On CPU that is plain padded SDPA; on
CUDA with flash-attn the attention packs the padded rows itself (varlen, `model/attention.py`),
so only the projections pay for padding. A pass that runs out of memory is split in halves and
retried, down to a single row; only a row that fails alone fails its fill.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Protocol, TypeVar, cast

import torch

from model.engine import Forward, Stopped

log = logging.getLogger("fillgap.worker")

T = TypeVar("T")
ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")
GATHER_MAX_S = 0.1
# A fill on the group path samples its canvas on its own thread between passes, and that can take
# as long as a pass (a 262,144-id head over every canvas position): waiting only a quarter of a
# pass for it, two such fills settle into taking turns, one row a pass. So a step with group calls
# waits up to one whole pass (at most this) for the fills still sampling; once in step, they stay.
GROUP_GATHER_MAX_S = 1.0


class Member(Protocol):
    """A running fill as the loop sees it."""

    def should_stop(self) -> bool: ...


@dataclass(eq=False)
class _Call:
    member: Member | None
    ids: torch.Tensor | None = None  # (B, T) rows to score, for a batched call
    key_padding: torch.Tensor | None = None
    cols: torch.Tensor | None = None  # the columns to score, shared by the rows; None: all
    solo: Callable[[], object] | None = None  # run alone (passes that carry a key/value cache)
    group: Callable[[list], list] | None = None  # run once per step for all items posted to it
    item: object = None  # this fill's part of a group call
    rows: int = 1  # the rows `item` adds to its group's pass
    result: object = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


class StepLoop:
    def __init__(self, forward: Forward, pad_id: int, max_rows: int = 64, gather_s: float = 0.01) -> None:
        """`gather_s`: the least a step waits for stragglers; it waits up to a quarter of the last pass
        (at most GATHER_MAX_S), since a fill that posts late would otherwise wait a whole pass."""
        self._forward = forward
        self._pad_id = pad_id
        self.max_rows = max_rows
        self.gather_s = gather_s
        self._last_pass_s = 0.0
        self._cv = threading.Condition()
        self._posted: list[_Call] = []
        self._members: set[Member] = set()
        self._local = threading.local()  # the member whose thread is calling
        self.forward_passes = 0
        self.rows_run = 0
        self.oom_splits = 0
        self._busy_since: float | None = None  # when the step now running began
        self._thread = threading.Thread(target=self._loop, daemon=True, name="fillgap-steps")
        self._thread.start()

    def stalled_s(self) -> float:
        """How long the step now running has taken (0 between steps); infinite once the loop's
        thread is gone. A health check's measure of a hung worker."""
        if not self._thread.is_alive():
            return float("inf")
        since = self._busy_since
        return 0.0 if since is None else time.monotonic() - since

    # --- the fill threads' side -------------------------------------------------------------

    def join(self, member: Member) -> None:
        """The calling thread now works for `member`: its passes go into the shared batch."""
        self._local.member = member
        with self._cv:
            self._members.add(member)

    def leave(self, member: Member) -> None:
        self._local.member = None
        with self._cv:
            self._members.discard(member)
            self._cv.notify_all()  # the loop may have been waiting for this one to post

    def logits(
        self, ids: torch.Tensor, key_padding: torch.Tensor | None, cols: torch.Tensor | None = None
    ) -> torch.Tensor:
        """These rows' logits at `cols` (B, len(cols), V) (None: every column), from the next shared pass."""
        call = _Call(self._member(), ids=ids, key_padding=key_padding, cols=cols)
        return cast(torch.Tensor, self._post(call))

    def solo(self, fn: Callable[[], T]) -> T:
        """fn's answer, run on the loop's thread between shared passes."""
        return cast(T, self._post(_Call(self._member(), solo=fn)))

    def group(self, fn: Callable[[list[ItemT]], list[ResultT]], item: ItemT, rows: int = 1) -> ResultT:
        """fn's answer for `item`: once per step the loop calls fn(items) (results in the items'
        order) for the items every fill posted to `fn` (the same function, compared by ==)."""
        return cast(ResultT, self._post(_Call(self._member(), group=fn, item=item, rows=rows)))

    def _member(self) -> Member | None:
        return getattr(self._local, "member", None)

    def _post(self, call: _Call) -> object:
        if call.member is not None and call.member.should_stop():
            raise Stopped
        with self._cv:
            self._posted.append(call)
            self._cv.notify_all()
        call.done.wait()
        if call.error is not None:
            raise call.error
        return call.result

    # --- the loop thread ----------------------------------------------------------------------

    def _loop(self) -> None:
        with torch.no_grad():  # grad mode is per thread; the fills' threads are in no_grad already
            while True:
                calls = self._gather()
                self._busy_since = time.monotonic()
                try:
                    self._run(calls)
                except BaseException as exc:  # never leave a fill waiting for an answer that won't come
                    log.exception("step loop failed")
                    for call in calls:
                        if call.result is None and call.error is None:
                            call.error = exc
                finally:
                    self._busy_since = None
                    for call in calls:
                        call.done.set()

    def _gather(self) -> list[_Call]:
        """The calls of the next step: once every running fill has posted, or the window has passed."""
        with self._cv:
            while not self._posted:
                self._cv.wait()
            if any(c.group is not None for c in self._posted):
                window = min(GROUP_GATHER_MAX_S, max(self.gather_s, self._last_pass_s))
            else:
                window = min(GATHER_MAX_S, max(self.gather_s, self._last_pass_s / 4))
            until = time.monotonic() + window
            while self._stragglers() and (left := until - time.monotonic()) > 0:
                self._cv.wait(left)
            calls, self._posted = self._posted, []
        return calls

    def _run(self, calls: list[_Call]) -> None:
        live = []
        for call in calls:
            if call.member is not None and call.member.should_stop():
                call.error = Stopped()  # cancelled or past its deadline: dropped at this boundary
            else:
                live.append(call)
        started = time.monotonic()
        for call in (c for c in live if c.solo is not None):
            self._run_solo(call)
        self._run_batched([c for c in live if c.solo is None and c.group is None])
        groups: dict[Callable[[list], list], list[_Call]] = {}
        for call in live:
            if call.group is not None:
                groups.setdefault(call.group, []).append(call)
        for fn, members in groups.items():
            self._run_group(fn, members)
        if live:
            self._last_pass_s = time.monotonic() - started

    def _stragglers(self) -> bool:
        posted = {id(c.member) for c in self._posted}
        return any(id(m) not in posted for m in self._members)

    def _run_solo(self, call: _Call) -> None:
        assert call.solo is not None
        try:
            call.result = call.solo()
            self.forward_passes += 1
        except Exception as exc:
            call.error = exc

    def _run_group(self, fn: Callable[[list], list], calls: list[_Call]) -> None:
        """fn over the calls' items, in chunks of at most max_rows rows, each chunk one pass."""
        chunk: list[_Call] = []
        for call in calls:
            if chunk and sum(c.rows for c in chunk) + call.rows > self.max_rows:
                self._group_split_on_oom(fn, chunk)
                chunk = []
            chunk.append(call)
        if chunk:
            self._group_split_on_oom(fn, chunk)

    def _group_split_on_oom(self, fn: Callable[[list], list], calls: list[_Call]) -> None:
        """One pass of fn over the calls; out of memory, halves; a call that fails alone gets the error."""
        try:
            results = fn([call.item for call in calls])
        except Exception as exc:
            if not is_out_of_memory(exc) or len(calls) == 1:
                for call in calls:
                    call.error = exc
                return
            self.oom_splits += 1
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            half = len(calls) // 2
            log.warning(
                "out of memory on a group of %d items; retrying as %d + %d", len(calls), half, len(calls) - half
            )
            self._group_split_on_oom(fn, calls[:half])
            self._group_split_on_oom(fn, calls[half:])
            return
        self.forward_passes += 1
        self.rows_run += sum(call.rows for call in calls)
        for call, result in zip(calls, results, strict=True):
            call.result = result

    def _run_batched(self, calls: list[_Call]) -> None:
        rows = [(call, r) for call in calls for r in range(call.ids.shape[0])]  # type: ignore[union-attr]
        pieces: dict[int, list[_Scored]] = {id(c): [] for c in calls}
        for start in range(0, len(rows), self.max_rows):
            chunk = rows[start : start + self.max_rows]
            try:
                for (call, _), out in zip(chunk, self._rows_split_on_oom(chunk), strict=True):
                    if isinstance(out, BaseException):
                        call.error = call.error or out
                    else:
                        pieces[id(call)].append(out)
            except Exception as exc:
                for call, _ in chunk:
                    call.error = call.error or exc
        for call in calls:
            if call.error is None:
                call.result = _joined(pieces[id(call)])

    def _rows_split_on_oom(self, rows: list[tuple[_Call, int]]) -> list[_Scored | BaseException]:
        """Each row's logits; a row that runs out of memory even alone gets its error instead."""
        try:
            return list(self._rows(rows))
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            if len(rows) == 1:
                return [exc]
            self.oom_splits += 1
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            half = len(rows) // 2
            log.warning("out of memory on a pass of %d rows; retrying as %d + %d", len(rows), half, len(rows) - half)
            return self._rows_split_on_oom(rows[:half]) + self._rows_split_on_oom(rows[half:])

    def _rows(self, rows: list[tuple[_Call, int]]) -> list[_Scored]:
        """One forward pass over the rows, right-padded to the widest; each row's logits at its columns."""
        widths = [call.ids.shape[1] for call, _ in rows]  # type: ignore[union-attr]
        width = max(widths)
        first = rows[0][0].ids
        assert first is not None
        device = first.device
        ids = torch.full((len(rows), width), self._pad_id, dtype=first.dtype, device=device)
        real = torch.zeros((len(rows), width), dtype=torch.bool, device=device)
        for i, (call, r) in enumerate(rows):
            assert call.ids is not None
            ids[i, : widths[i]] = call.ids[r]
            real[i, : widths[i]] = True if call.key_padding is None else call.key_padding[r]
        cols = [_columns(call, device) for call, _ in rows]
        counts = [len(c) for c in cols]
        # Packed (row, column) pairs rather than rows padded to the most columns: a fill scoring
        # every column (a draft being scored) then costs only its own rows.
        repeats = torch.tensor(counts, device=device)
        at_rows = torch.arange(len(rows), device=device).repeat_interleave(repeats, output_size=sum(counts))
        out = self._forward(ids, None if bool(real.all()) else real, (at_rows, torch.cat(cols)))
        self.forward_passes += 1
        self.rows_run += len(rows)
        starts = accumulate(counts, initial=0)
        return [_Scored(out, start, count) for start, count in zip(starts, counts, strict=False)]


@dataclass(frozen=True)
class _Scored:
    """A row's logits: `count` positions of a pass's packed output (N, V), from `start`."""

    out: torch.Tensor
    start: int
    count: int


def _joined(rows: list[_Scored]) -> torch.Tensor:
    """A fill's rows as (rows, columns, V): a view of the pass's output when they ran in one pass
    (as they do unless a pass was split), so the logits are never copied; else stacked."""
    first, n = rows[0], len(rows)
    if all(r.out is first.out and r.start == first.start + i * first.count for i, r in enumerate(rows)):
        return first.out[first.start : first.start + n * first.count].view(n, first.count, first.out.shape[-1])
    return torch.stack([r.out[r.start : r.start + r.count] for r in rows])


def _columns(call: _Call, device: torch.device) -> torch.Tensor:
    assert call.ids is not None
    if call.cols is None:
        return torch.arange(call.ids.shape[1], device=device)
    return call.cols.to(device=device, dtype=torch.long)
