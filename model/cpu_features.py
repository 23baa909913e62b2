"""What this CPU's vector units can do for bf16: the one place the worker and training ask.

Intel's AMX (`amx_bf16`) and AVX-512 BF16 (`avx512_bf16`) run a bf16 matmul 2-6x faster than
fp32 on two threads (issue 17's measurements, torch 2.13). Without them oneDNN emulates bf16 and
it is far slower: on an AVX2-only AMD EPYC here a 1024^3 bf16 matmul ran at 0.84 GFLOP/s against
89 for fp32. So bf16 is chosen only when the flags say the units are there.
"""

from __future__ import annotations

import functools
from pathlib import Path

BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})


@functools.cache
def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The first processor's feature flags (empty where /proc/cpuinfo is missing: not Linux)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_bf16(flags: frozenset[str] | None = None) -> bool:
    """True when bf16 matmuls run on real units here (AMX or AVX-512 BF16), not emulated."""
    return bool((cpu_flags() if flags is None else flags) & BF16_FLAGS)
