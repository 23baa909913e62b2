"""Where a model runs: `auto` resolved to a device, and whether a checkpoint is refused there.

`auto` (the default everywhere) is CUDA when torch sees a GPU, else Apple's MPS, else the CPU. A
checkpoint is weighed from its safetensors headers before any weight is read:
- on the CPU chosen by `auto`, more than CPU_AUTO_MAX_PARAMETERS is refused: a 7B model there
  misses every fill's deadline, so the user needs to hear that a GPU is needed, not wait for
  timeouts. An explicit `--device cpu` loads it anyway (someone benchmarking or patient asked).
- anywhere, weights larger than the memory the device has free are refused, naming both sizes.
"""

from __future__ import annotations

import torch

CPU_AUTO_MAX_PARAMETERS = 2_000_000_000  # Open-dCoder 0.5B runs on a CPU; Dream/LLaDA 7-8B do not
GB = 1e9


class DeviceError(ValueError):
    """A device that does not exist here, or a checkpoint that cannot run on the chosen one."""


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(device: str) -> str:
    """`auto` -> "cuda", "mps" or "cpu"; any other name is checked to exist here and returned as is."""
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if _mps_available() else "cpu"
    try:
        kind = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise DeviceError(f"unknown device {device!r}: use auto, cpu, cuda, cuda:N or mps") from exc
    if kind.type == "cuda" and not torch.cuda.is_available():
        built = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise DeviceError(f"--device {device}: torch sees no CUDA GPU (torch {torch.__version__}, {built})")
    if kind.type == "cuda" and kind.index is not None and kind.index >= torch.cuda.device_count():
        raise DeviceError(f"--device {device}: torch sees {torch.cuda.device_count()} CUDA GPU(s)")
    if kind.type == "mps" and not _mps_available():
        raise DeviceError(f"--device {device}: torch sees no MPS device")
    return device


def free_memory(device: str) -> int | None:
    """Bytes the device can still give a model (None: unknown, e.g. MPS shares the host's)."""
    kind = torch.device(device)
    if kind.type == "cuda":
        return int(torch.cuda.mem_get_info(kind)[0])
    if kind.type != "cpu":
        return None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_fits(what: str, parameters: int, device: str, dtype: torch.dtype, explicit: bool) -> None:
    """Refuse, naming the size, a checkpoint of `parameters` numbers that cannot run on `device`
    (already resolved); `explicit`: the user named the device rather than leaving it `auto`."""
    need = parameters * dtype.itemsize
    size = f"{parameters / 1e9:.1f}B parameters ({need / GB:.1f} GB as {str(dtype).removeprefix('torch.')})"
    if device == "cpu" and not explicit and parameters > CPU_AUTO_MAX_PARAMETERS:
        raise DeviceError(
            f"{what} has {size}, too large for the CPU path (at most {CPU_AUTO_MAX_PARAMETERS / 1e9:.0f}B "
            "parameters: fills would run past their deadlines). A GPU is needed, and torch sees no CUDA "
            "or MPS device. Pass --device cpu to load it on the CPU anyway."
        )
    free = free_memory(device)
    if free is not None and need > free:
        raise DeviceError(f"{what} has {size}, more than the {free / GB:.1f} GB {device} has free")
