"""The worker protocol: the messages `lsp/` and `model/` exchange.

Frames are a 4-byte big-endian length followed by one msgpack map. Every map carries the
protocol version `v` and a `type`. This module imports msgpack and nothing from torch.
"""

from __future__ import annotations

import struct
from dataclasses import asdict, dataclass, field, fields
from typing import IO, Any

import msgpack

from model.wire.sampling import ORDERS as ORDERS  # the settings live in sampling.py; re-exported
from model.wire.sampling import PROFILES, SamplerSettings
from model.wire.sampling import check as check_sampler

# 2: every sampler setting optional (unset: the family's default), sampler options, profiles, progress.
# 3: `ready` says the checkpoint's calibrated as-you-type gate.
# 4: fills and hellos name their model (a cluster routes by it); a cluster answers status per replica.
VERSION = 4
MAX_FRAME = 64 * 1024 * 1024
_LEN = struct.Struct(">I")


class ProtocolError(Exception):
    """A frame that cannot be read as a message of this protocol: the connection is dropped."""


class InvalidRequest(ProtocolError):
    """A well-formed message of a known type whose fields are wrong: answered, connection kept."""


class VersionMismatch(ProtocolError):
    """A frame of another protocol version: the two ends run different fillgap versions."""


@dataclass
class FillRequest:
    """Fill the gap between prefix and suffix. Each budget is a candidate gap length in tokens;
    the model pads unused positions with null tokens, which are trimmed."""

    id: int
    prefix: str
    suffix: str
    budgets: list[int] = field(default_factory=lambda: [32])
    sampler: SamplerSettings = field(default_factory=SamplerSettings)  # only what the sender's user set
    # "full", or "typing": as-you-type, where the family's typing profile fills in what is unset.
    profile: str = "full"
    # Revision: a draft for the gap, whose tokens overlapping the character ranges in `remask`
    # (e.g. under a syntax error) are re-masked and written again; the rest of the draft stays.
    draft: str | None = None
    remask: list[list[int]] = field(default_factory=list)
    # With a draft and no ranges: re-mask the draft's tokens the model itself finds less likely
    # than this (scored with each token hidden in turn), the "refine selection" action.
    remask_below: float = 0.0
    # Give up (answer "deadline exceeded") if not done this many ms after the worker got it. 0 is the
    # wire's "none set" (never give up), not a default anyone means: every sender in lsp/ sends its
    # one deadline default (WorkerSettings) or what settings and flags make of it.
    deadline_ms: int = 0
    # Other files' text the gap's code names (signatures, imports): placed before the prefix as a
    # file of its own, within a share of the window.
    context: str = ""
    # Joint fill: the gap is several holes, denoised together in one batch. between[i] is the text
    # between hole i and hole i+1; holes[i] is what hole i holds now (a placeholder), the context
    # seen where holes fall in different windows. Each candidate names the hole it fills.
    holes: list[str] = field(default_factory=list)
    between: list[str] = field(default_factory=list)
    # The model to fill with, by the name a cluster serves it under (model/cluster); "" is the
    # one this connection reaches (a local worker holds one model and takes any name).
    model: str = ""
    type: str = "fill"


@dataclass
class Candidate:
    text: str
    budget: int
    mean_confidence: float
    tokens: list[str] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)
    hole: int = 0  # which hole of a joint fill this candidate fills


@dataclass
class FillResult:
    id: int
    candidates: list[Candidate]  # best first (highest mean confidence)
    elapsed_ms: float
    forward_passes: int
    type: str = "result"


@dataclass
class ErrorReply:
    id: int | None
    message: str
    type: str = "error"


@dataclass
class Ready:
    model: str
    device: str
    parameters: int
    context_tokens: int
    backend: str = ""
    pid: int = 0  # the worker's process id (shared daemons outlive the server that started them)
    # What the engine says of its model (model/engine.py EngineInfo; empty/0 where it says nothing):
    family: str = ""  # e.g. "diffusion_gemma"
    canvas_tokens: int = 0  # block diffusion: tokens per canvas
    experts: int = 0  # mixture of experts: experts per layer ...
    experts_active: int = 0  # ... and the top-k each token is routed to
    dtype: str = ""  # the weights' dtype
    # The as-you-type gate calibrated for these weights (lsp/fill/gate.py; the checkpoint's
    # config.json `fillgap_gate`); 0: none was, the server then holds back trivial fills only.
    typing_gate: float = 0.0
    type: str = "ready"


@dataclass
class Progress:
    """Worker -> server while it starts (before `ready`): how far the model load is. `done` of
    `total` in the stage's unit (bytes for "load")."""

    stage: str
    done: int
    total: int
    message: str = ""
    type: str = "progress"


@dataclass
class Hello:
    """A socket client's first frame; the worker answers Ready, or an error and a closed connection.
    Over TCP the token must match the worker's (compared in constant time)."""

    token: str = ""
    model: str = ""  # as in FillRequest: a cluster answers with that model's `ready`
    type: str = "hello"


@dataclass
class Cancel:
    id: int  # of a fill on the same connection; it stops at its next step boundary
    type: str = "cancel"


@dataclass
class StatusRequest:
    id: int = 0
    type: str = "status"


@dataclass
class Shutdown:
    """Stop the worker (a shared one too: every connection is dropped)."""

    type: str = "shutdown"


@dataclass
class WorkerStatus:
    id: int
    model: str
    device: str
    backend: str
    pid: int
    uptime_s: float
    connections: int
    queued: int  # fills waiting for a place in the batch
    running: int  # fills being denoised
    served: int
    cancelled: int
    failed: int
    p50_ms: float  # latency of the recent fills served (receipt to answer)
    p95_ms: float
    rss_mb: float
    gpu_mb: float
    forward_passes: int
    mean_batch_rows: float  # rows per forward pass: how much batching there was
    rows: int = 0  # rows run over all forward passes
    oom_splits: int = 0  # passes that ran out of memory and were split in halves
    family: str = ""  # as in Ready
    canvas_tokens: int = 0
    experts: int = 0
    experts_active: int = 0
    dtype: str = ""
    replica: str = ""  # in a cluster: the replica's id, the node it runs on, and the model's name there
    node: str = ""
    deployment: str = ""
    type: str = "worker_status"


@dataclass
class ClusterStatus:
    """A cluster's answer to `status`: every model it serves, each replica's own counters."""

    id: int
    models: list[ModelStatus]
    type: str = "cluster_status"


@dataclass
class ModelStatus:
    name: str
    state: str  # the deployment's, as Ray Serve reports it: HEALTHY, UPSCALING, UNHEALTHY, ...
    target: int  # replicas it is meant to have now
    running: int
    replicas: list[WorkerStatus] = field(default_factory=list)


def to_wire(msg: Any) -> dict:
    d = asdict(msg)
    d["v"] = VERSION
    if isinstance(msg, FillRequest):  # unset settings stay off the wire: the worker resolves them
        d["sampler"] = msg.sampler.set_fields()
    return d


def _mismatch(d: dict) -> str:
    theirs = d.get("v")
    said = d.get("message") if d.get("type") == "error" else None
    return (
        f"the other end speaks worker protocol version {theirs!r}, this one speaks {VERSION}: "
        "run the same fillgap version on both (restart or upgrade the worker)"
        + (f"; it said: {said}" if isinstance(said, str) else "")
    )


def _build(cls: type, d: dict) -> Any:
    names = {f.name for f in fields(cls)}
    unknown = set(d) - names - {"v"}
    if unknown:
        raise ProtocolError(f"{cls.__name__}: unknown fields {sorted(unknown)}")
    kwargs = {k: v for k, v in d.items() if k in names}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ProtocolError(f"{cls.__name__}: {exc}") from exc


def from_wire(d: Any) -> Any:
    """The typed message for a decoded frame. ProtocolError for frames of an unknown type,
    VersionMismatch (one) for another version, saying both; InvalidRequest (one) for a known type
    with bad fields."""
    if not isinstance(d, dict):
        raise ProtocolError("a frame must hold a map")
    if d.get("v") != VERSION:
        raise VersionMismatch(_mismatch(d))
    kind = d.get("type")
    if kind in _CONTROL:
        try:
            msg = _build(_CONTROL[kind], d)
        except ProtocolError as exc:
            raise InvalidRequest(str(exc)) from exc
        if kind in ("cancel", "status") and not isinstance(msg.id, int):
            raise InvalidRequest(f"{kind}: id must be an integer")
        return msg
    if kind == "fill":
        try:
            return _fill_request(d)
        except InvalidRequest:
            raise
        except ProtocolError as exc:
            raise InvalidRequest(str(exc)) from exc
    if kind == "result":
        res = _build(FillResult, d)
        res.candidates = [_build(Candidate, c) for c in res.candidates]
        return res
    if kind == "error":
        return _build(ErrorReply, d)
    if kind == "ready":
        return _build(Ready, d)
    if kind == "progress":
        return _build(Progress, d)
    if kind == "worker_status":
        return _build(WorkerStatus, d)
    if kind == "cluster_status":
        return _cluster_status(d)
    raise ProtocolError(f"unknown message type {kind!r}")


def _cluster_status(d: dict) -> ClusterStatus:
    st = _build(ClusterStatus, d)
    if not isinstance(st.models, list) or not all(isinstance(m, dict) for m in st.models):
        raise ProtocolError("cluster_status: models must be a list of maps")
    st.models = [_build(ModelStatus, m) for m in st.models]
    for m in st.models:
        m.replicas = [_build(WorkerStatus, r) for r in m.replicas]
    return st


_CONTROL: dict[str, type] = {"hello": Hello, "cancel": Cancel, "status": StatusRequest, "shutdown": Shutdown}


def _fill_request(d: dict) -> FillRequest:
    req = _build(FillRequest, d)
    raw = d.get("sampler") or {}  # none sent: every setting unset
    if not isinstance(raw, dict):
        raise InvalidRequest("fill: sampler must be a map")
    req.sampler = _build(SamplerSettings, raw)
    _check_fill(req)
    return req


def _check_fill(req: FillRequest) -> None:
    try:
        check_sampler(req.sampler)
    except ValueError as exc:
        raise ProtocolError(f"fill: {exc}") from exc
    if req.profile not in PROFILES:
        raise ProtocolError(f"fill: profile must be one of {', '.join(PROFILES)}")
    if not isinstance(req.prefix, str) or not isinstance(req.suffix, str):
        raise ProtocolError("fill: prefix and suffix must be strings")
    if not req.budgets or not all(isinstance(b, int) and 1 <= b <= 1024 for b in req.budgets):
        raise ProtocolError("fill: budgets must be 1..1024 tokens each")
    if len(req.budgets) > 16:
        raise ProtocolError("fill: at most 16 budgets")
    if req.draft is not None and not isinstance(req.draft, str):
        raise ProtocolError("fill: draft must be a string")
    if not isinstance(req.remask, list) or not all(
        isinstance(r, list) and len(r) == 2 and all(isinstance(x, int) for x in r) for r in req.remask
    ):
        raise ProtocolError("fill: remask must be a list of [start, end] character ranges")
    if not isinstance(req.remask_below, int | float) or not 0.0 <= req.remask_below <= 1.0:
        raise ProtocolError("fill: remask_below must be a probability in [0, 1]")
    if not isinstance(req.deadline_ms, int) or req.deadline_ms < 0:
        raise ProtocolError("fill: deadline_ms must be a whole number of milliseconds >= 0")
    if not isinstance(req.context, str):
        raise ProtocolError("fill: context must be a string")
    if not isinstance(req.model, str):
        raise ProtocolError("fill: model must be a string (a name the cluster serves)")
    _check_holes(req)


MAX_HOLES = 64


def _check_holes(req: FillRequest) -> None:
    texts = (req.holes, req.between)
    if not all(isinstance(t, list) and all(isinstance(x, str) for x in t) for t in texts):
        raise ProtocolError("fill: holes and between must be lists of strings")
    if req.holes and len(req.between) != len(req.holes) - 1:
        raise ProtocolError("fill: between must hold one text per pair of neighbouring holes")
    if len(req.holes) > MAX_HOLES or (req.holes and req.draft is not None):
        raise ProtocolError(f"fill: at most {MAX_HOLES} holes, and no draft with holes")


def encode_frame(msg: Any) -> bytes:
    body = msgpack.packb(to_wire(msg) if not isinstance(msg, dict) else {**msg, "v": VERSION}, use_bin_type=True)
    return _LEN.pack(len(body)) + body


def decode_body(body: bytes) -> Any:
    try:
        return msgpack.unpackb(body, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise ProtocolError(f"malformed msgpack frame: {exc}") from exc


def decode_frame(data: bytes) -> Any:
    """One whole frame (header and body, as `encode_frame` made it), decoded: an HTTP body."""
    if len(data) < _LEN.size or frame_length(data[: _LEN.size]) != len(data) - _LEN.size:
        raise ProtocolError("expected one whole frame: a 4-byte length, then that many bytes of msgpack")
    return decode_body(data[_LEN.size :])


def read_frame(stream: IO[bytes]) -> Any | None:
    """One decoded frame from a blocking stream, or None at end of stream."""
    body = read_body(stream)
    return None if body is None else decode_body(body)


def read_body(stream: IO[bytes]) -> bytes | None:
    """One frame's undecoded body, or None at end of stream; ProtocolError when framing breaks."""
    head = stream.read(_LEN.size)
    if not head:
        return None
    if len(head) < _LEN.size:
        raise ProtocolError("truncated frame header")
    (size,) = _LEN.unpack(head)
    if size > MAX_FRAME:
        raise ProtocolError(f"frame of {size} bytes exceeds {MAX_FRAME}")
    body = stream.read(size)
    if len(body) < size:
        raise ProtocolError("truncated frame body")
    return body


def frame_length(head: bytes) -> int:
    (size,) = _LEN.unpack(head)
    if size > MAX_FRAME:
        raise ProtocolError(f"frame of {size} bytes exceeds {MAX_FRAME}")
    return size


HEADER_SIZE = _LEN.size
