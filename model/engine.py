"""What every engine offers the worker: a fill request in, ranked candidates with confidences out.

An engine holds one checkpoint on one device (or, for block diffusion with a device_map, across
several). `load_engine` picks it by the checkpoint's family (model/families.py): masked diffusion
(one bidirectional transformer that denoises masked gap tokens: model/masked_engine.py, with its
sampler in model/sampler.py) or block diffusion (DiffusionGemma: a causal encoder that caches the
prompt, a bidirectional decoder over a canvas: model/block_engine.py, loaded by
model/gemma_load.py). Every builder takes the folder and one LoadOptions; the block-diffusion
builder imports transformers, so nothing on the masked path does.

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
from model.cpu_features import cpu_bf16
from model.devices import check_fits, resolve_device
from model.families import UnknownArchitecture, family_of
from model.wire.protocol import FillRequest, FillResult

T = TypeVar("T")
ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")
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
    # What `fillgap status` shows of the model besides the above (None: the engine does not say):
    family: str | None = None  # the checkpoint's family, e.g. "diffusion_gemma"
    canvas_tokens: int | None = None  # block diffusion: the tokens one canvas denoises
    experts: int | None = None  # mixture of experts: experts per layer
    experts_active: int | None = None  # ... and how many each token is routed to (top-k)
    dtype: str | None = None  # the weights' dtype, e.g. "bfloat16"
    device_memory: int | None = None  # bytes the weights hold on the accelerator (None: not on one)
    typing_gate: float | None = None  # the as-you-type gate calibrated for these weights (None: none)


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

    def group(self, fn: Callable[[list[ItemT]], list[ResultT]], item: ItemT, rows: int = 1) -> ResultT:
        """fn's answer for `item`, from one call `fn(items) -> results` per step over the items every
        batched fill posted to the same `fn`: the pass of rows that need more than ids (a block-
        diffusion decoder step carries a canvas, self-conditioning and its fill's own cache).
        Counted as one forward pass of sum(rows) rows; run out of memory, it is split in halves."""
        ...


class Engine(Protocol):
    @property
    def info(self) -> EngineInfo: ...

    def fill(self, req: FillRequest, stop: StopCheck | None = None, passes: Passes | None = None) -> FillResult:
        """Candidates for the request, best first (per hole, for a joint fill). `stop` is asked before
        each step and ends the fill with `Stopped`; `passes`, when given, runs every forward pass."""
        ...

    def shared_pass(self) -> SharedPass: ...


# Engines whose `auto` takes bf16 on a CPU with bf16 units: the masked engine's logits are checked
# against fp32 there (tests/model/test_cpu_dtype.py). DiffusionGemma keeps fp32 on every CPU: its
# transformers model (experts, routing) has not been measured in bf16 on one.
CPU_BF16_ENGINES = frozenset({"masked-diffusion"})


def torch_dtype(dtype: str, device: str, cpu_bf16_ok: bool = False, flags: frozenset[str] | None = None) -> torch.dtype:
    """The one place a dtype name becomes a dtype (`device` already resolved: see model/devices.py).
    `auto`: bfloat16 on CUDA; on a CPU, bfloat16 when the engine takes it there (`cpu_bf16_ok`)
    and the CPU has bf16 units (model/cpu_features.py; `flags`: its flags, default this CPU's),
    since emulated bf16 is slower than fp32 (an AVX2 EPYC: the shipped model's pass 2.5-4x, a
    1024^3 matmul 100x); float32 elsewhere (MPS too)."""
    if dtype != "auto":
        return DTYPES[dtype]
    if device.startswith("cuda"):
        return torch.bfloat16
    if torch.device(device).type == "cpu" and cpu_bf16_ok and cpu_bf16(flags):
        return torch.bfloat16
    return torch.float32


def slow_dtype(dtype: torch.dtype, device: str, flags: frozenset[str] | None = None) -> str | None:
    """Why `dtype` will be slow on `device` (None: it will not): bf16 asked for on a CPU without
    bf16 units, which oneDNN emulates."""
    if dtype != torch.bfloat16 or torch.device(device).type != "cpu" or cpu_bf16(flags):
        return None
    return (
        "bfloat16 on this CPU will be slow: it has no bf16 units (AMX or AVX-512 BF16), so its "
        "matmuls are emulated, several times slower than float32 (--dtype auto picks float32 here)"
    )


@dataclass(frozen=True)
class LoadOptions:
    """How an engine loads its checkpoint: every builder in ENGINES takes one (an engine that needs
    more adds a field here, not a parameter to every builder)."""

    device: str = "auto"  # auto (CUDA, else MPS, else CPU) or a torch device name
    threads: int | None = None  # torch threads (None: torch's default)
    dtype: str = "auto"  # a DTYPES name or auto (see torch_dtype)
    progress: LoadProgress | None = None  # progress(bytes_done, bytes_total, message) while weights are read
    context_tokens: int = 0  # the longest window a fill is fitted to (0: what the model was trained at)
    # Several GPUs (block diffusion only): passed through to transformers' from_pretrained, which
    # places the layers (needs accelerate). "auto"/"balanced"/"sequential" or {module: device};
    # max_memory caps each device, e.g. {0: "20GiB", 1: "20GiB", "cpu": "64GiB"}.
    device_map: str | dict[str, str | int] | None = None
    max_memory: dict[str | int, str | int] | None = None
    quantize: str | None = None  # block diffusion: None, "fp8", "bnb-8bit" or "bnb-4bit" (model/gemma_load.py)


EngineBuilder = Callable[[Path, LoadOptions], Engine]


def max_memory(spec: str) -> dict[str | int, str | int] | None:
    """`--max-memory 0=20GiB,1=20GiB,cpu=64GiB` as from_pretrained takes it (GPU indices as ints)."""
    if not spec:
        return None
    out: dict[str | int, str | int] = {}
    for part in spec.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep or not key or not value:
            raise ValueError(f"--max-memory {spec!r}: expected DEVICE=SIZE[,DEVICE=SIZE...], e.g. 0=20GiB,cpu=64GiB")
        out[int(key) if key.isdigit() else key] = value
    return out


def _masked_diffusion(folder: Path, options: LoadOptions) -> Engine:
    from model.masked_engine import MaskedDiffusionEngine  # imported here: it imports this module

    return MaskedDiffusionEngine(folder, options)


def _block_diffusion(folder: Path, options: LoadOptions) -> Engine:
    from model.block_engine import BlockDiffusionEngine  # imported here: it imports transformers

    return BlockDiffusionEngine(folder, options)


ENGINES: dict[str, EngineBuilder] = {  # by Family.engine
    "masked-diffusion": _masked_diffusion,
    "block-diffusion": _block_diffusion,
}


def _weighed(folder: Path, engine: str) -> int:
    """The parameters the engine will put on the device (block diffusion leaves the vision tower out)."""
    if engine == "block-diffusion":
        from model.gemma_folder import text_parameter_count  # stdlib + headers: no transformers

        return text_parameter_count(folder)
    return parameter_count(folder)


def load_engine(
    folder: Path,
    device: str = "auto",
    threads: int | None = None,
    dtype: str = "auto",
    progress: LoadProgress | None = None,
    context_tokens: int = 0,
    device_map: str | dict[str, str | int] | None = None,
    max_memory: dict[str | int, str | int] | None = None,
    quantize: str | None = None,
) -> Engine:
    """The engine for the checkpoint in `folder`, chosen by its family. `device`: auto (CUDA, else
    MPS, else CPU) or a torch device name; a checkpoint too large for it is refused before any
    weight is read (model/devices.py). `threads`: torch threads (None: torch's default); `dtype`:
    a DTYPES name or auto (see torch_dtype); `progress(bytes_done, bytes_total, message)` hears
    how the weights' read goes; `context_tokens`: the longest window a fill is fitted to (0: the
    context the model was trained at, model/masked_engine.py window_tokens). `device_map`,
    `max_memory`, `quantize`: see LoadOptions (a device_map leaves placement, and the check that
    the weights fit, to transformers)."""
    folder = Path(folder)
    try:
        family = family_of(read_config(folder))
    except UnknownArchitecture as exc:
        raise CheckpointError(f"{folder / 'config.json'}: {exc}") from exc
    if family.engine != "block-diffusion" and (device_map is not None or max_memory or quantize):
        raise CheckpointError(
            f"{folder}: --device-map, --max-memory and --quantize apply to DiffusionGemma checkpoints only "
            f"(this is a {family.name} checkpoint)"
        )
    where = resolve_device(device)
    if device_map is None:
        weighed = _weighed(folder, family.engine)
        dt = torch_dtype(dtype, where, cpu_bf16_ok=family.engine in CPU_BF16_ENGINES)
        check_fits(str(folder), weighed, where, dt, explicit=device != "auto")
    options = LoadOptions(where, threads, dtype, progress, context_tokens, device_map, max_memory, quantize)
    return ENGINES[family.engine](folder, options)
