"""What every engine offers the worker: a fill request in, ranked candidates with confidences out.

An engine holds one checkpoint on one device. `load_engine` picks it by the checkpoint's family
(model/families.py). Today every family is masked diffusion: one bidirectional transformer that
denoises masked gap tokens (model/masked_engine.py, with its sampler in model/sampler.py). The
block-diffusion engine (DiffusionGemma: a causal encoder that caches the prompt, a bidirectional
decoder over a canvas) goes beside it as model/block_engine.py, its sampler below it, and one
entry in ENGINES.

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

from model.checkpoint import CheckpointError, read_config
from model.families import FAMILIES, UnknownArchitecture, family_of
from model.wire.protocol import FillRequest, FillResult

T = TypeVar("T")
StopCheck = Callable[[], bool]
Forward = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]  # (ids, key_padding) -> logits
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
    `pad_id` to one width and marked in key_padding give each row the logits it would get alone."""

    forward: Forward
    pad_id: int


class Passes(Protocol):
    """Where a fill's forward passes run when it is batched (model/serve/steploop.py's StepLoop)."""

    def logits(self, ids: torch.Tensor, key_padding: torch.Tensor | None) -> torch.Tensor:
        """`SharedPass.forward` over these rows, run in the next shared pass."""
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
    """`auto`: bfloat16 on CUDA, float32 elsewhere."""
    if dtype != "auto":
        return DTYPES[dtype]
    return torch.bfloat16 if device.startswith("cuda") else torch.float32


def _masked_diffusion(folder: Path, device: str, threads: int | None, dtype: str) -> Engine:
    from model.masked_engine import MaskedDiffusionEngine  # imported here: it imports this module

    return MaskedDiffusionEngine(folder, device, threads, dtype)


EngineBuilder = Callable[[Path, str, int | None, str], Engine]
ENGINES: dict[str, EngineBuilder] = {"masked-diffusion": _masked_diffusion}
# Every family in model/families.py today is a bidirectional transformer denoising masked tokens;
# DiffusionGemma's family will map to "block-diffusion".
ENGINE_OF_FAMILY: dict[str, str] = {name: "masked-diffusion" for name in FAMILIES}


def load_engine(folder: Path, device: str = "cpu", threads: int | None = None, dtype: str = "auto") -> Engine:
    """The engine for the checkpoint in `folder`, chosen by its family. `threads`: torch threads
    (None: torch's default); `dtype`: a DTYPES name or auto (see torch_dtype)."""
    folder = Path(folder)
    try:
        family = family_of(read_config(folder))
    except UnknownArchitecture as exc:
        raise CheckpointError(f"{folder / 'config.json'}: {exc}") from exc
    return ENGINES[ENGINE_OF_FAMILY[family.name]](folder, device, threads, dtype)

