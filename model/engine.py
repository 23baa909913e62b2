"""What every engine offers the worker: a fill request in, ranked candidates with confidences out.

An engine holds one checkpoint on one device. `load_engine` picks it by the checkpoint's family
(model/families.py). Today every family is masked diffusion: one bidirectional transformer that
denoises masked gap tokens (model/masked_engine.py, with its sampler in model/sampler.py). The
block-diffusion engine (DiffusionGemma: a causal encoder that caches the prompt, a bidirectional
decoder over a canvas) goes beside it as model/block_engine.py, its sampler below it, one entry
in ENGINES and its family's `engine` name in model/families.py. Every builder takes the folder
and one LoadOptions.

Continuous batching (model/serve/) knows engines only through this interface: it asks the engine
for its `shared_pass` (the forward pass rows of many fills can share), builds its step loop on it,
and hands that loop back to each fill as `passes`. An engine run alone gets no `passes` and calls
its model directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import torch

from model.checkpoint import CheckpointError, LoadProgress, parameter_count, read_config
from model.devices import check_fits, resolve_device
from model.families import UnknownArchitecture, family_of
from model.wire.protocol import FillRequest, FillResult

T = TypeVar("T")
StopCheck = Callable[[], bool]
# (ids (B, T), key_padding, (rows, cols) index pairs (N,)) -> (N, V): the logits scoring each
# pair's token, with the engine's own shift; only those N positions reach the output layer.
Forward = Callable[[torch.Tensor, torch.Tensor | None, tuple[torch.Tensor, torch.Tensor]], torch.Tensor]
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class Stopped(Exception):
    """Decoding was stopped at a step boundary (the request was cancelled or ran past its deadline)."""


@dataclass(frozen=True)
class EngineInfo:
    """What the worker reports about the engine it holds (its `ready` and `status` replies)."""

    name: str  # which engine: "masked-diffusion", later "block-diffusion"
    device: str
    backend: str  # the attention kernel, e.g. "torch SDPA (float32)"
    parameters: int
    context_tokens: int  # the longest window a fill is fitted to


@dataclass(frozen=True)
class SharedPass:
    """The pass a step loop may run for the rows of many fills at once: rows right-padded with
    `pad_id` to one width and marked in key_padding give each row the logits it would get alone,
    at the columns each row asks for (packed, so no pass ever scores every position of every row)."""

    forward: Forward
    pad_id: int


class Passes(Protocol):
    """Where a fill's forward passes run when it is batched (model/serve/steploop.py's StepLoop)."""

    def logits(
        self, ids: torch.Tensor, key_padding: torch.Tensor | None, cols: torch.Tensor | None = None
    ) -> torch.Tensor:
        """`SharedPass.forward` over these rows at `cols` (sorted, shared by the rows; None: every
        column), run in the next shared pass: (B, len(cols), V), as `DiffusionLM.token_logits`."""
        ...

    def solo(self, fn: Callable[[], T]) -> T:
        """Run `fn` (a pass that cannot share: it carries this fill's key/value cache) between shared passes."""
        ...


class Engine(Protocol):
    @property
    def info(self) -> EngineInfo: ...

    def fill(self, req: FillRequest, stop: StopCheck | None = None, passes: Passes | None = None) -> FillResult:
        """Candidates for the request, best first (per hole, for a joint fill). `stop` is asked before
        each step and ends the fill with `Stopped`; `passes`, when given, runs every forward pass."""
        ...

    def shared_pass(self) -> SharedPass: ...


def torch_dtype(dtype: str, device: str) -> torch.dtype:
    """The one place a dtype name becomes a dtype; `auto`: bfloat16 on CUDA, float32 elsewhere
    (`device` already resolved: see model/devices.py)."""
    if dtype != "auto":
        return DTYPES[dtype]
    return torch.bfloat16 if device.startswith("cuda") else torch.float32


@dataclass(frozen=True)
class LoadOptions:
    """How an engine loads its checkpoint: every builder in ENGINES takes one (an engine that needs
    more adds a field here, not a parameter to every builder)."""

    device: str = "auto"  # auto (CUDA, else MPS, else CPU) or a torch device name
    threads: int | None = None  # torch threads (None: torch's default)
    dtype: str = "auto"  # a DTYPES name or auto (see torch_dtype)
    progress: LoadProgress | None = None  # progress(bytes_done, bytes_total, message) while weights are read
    context_tokens: int = 0  # the longest window a fill is fitted to (0: what the model was trained at)


EngineBuilder = Callable[[Path, LoadOptions], Engine]


def _masked_diffusion(folder: Path, options: LoadOptions) -> Engine:
    from model.masked_engine import MaskedDiffusionEngine  # imported here: it imports this module

    return MaskedDiffusionEngine(folder, options)


ENGINES: dict[str, EngineBuilder] = {"masked-diffusion": _masked_diffusion}  # by Family.engine


def load_engine(
    folder: Path,
    device: str = "auto",
    threads: int | None = None,
    dtype: str = "auto",
    progress: LoadProgress | None = None,
    context_tokens: int = 0,
) -> Engine:
    """The engine for the checkpoint in `folder`, chosen by its family. `device`: auto (CUDA, else
    MPS, else CPU) or a torch device name; a checkpoint too large for it is refused before any
    weight is read (model/devices.py). `threads`: torch threads (None: torch's default); `dtype`:
    a DTYPES name or auto (see torch_dtype); `progress(bytes_done, bytes_total, message)` hears
    how the weights' read goes; `context_tokens`: the longest window a fill is fitted to (0: the
    context the model was trained at, model/masked_engine.py window_tokens)."""
    folder = Path(folder)
    try:
        family = family_of(read_config(folder))
    except UnknownArchitecture as exc:
        raise CheckpointError(f"{folder / 'config.json'}: {exc}") from exc
    where = resolve_device(device)
    check_fits(str(folder), parameter_count(folder), where, torch_dtype(dtype, where), explicit=device != "auto")
    options = LoadOptions(where, threads, dtype, progress, context_tokens)
    return ENGINES[family.engine](folder, options)
