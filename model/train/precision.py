"""The number format a training step runs in: fp32, bf16 autocast, or bf16 weights with fp32 masters.

- fp32: everything in float32 (the only fast choice on a CPU without bf16 units: there oneDNN
  emulates bf16 and a matmul runs ~100x slower; see model.cpu_features).
- bf16-autocast: the weights and the optimizer stay fp32; matmuls run in bf16 under
  torch.autocast, norms, softmax and the loss in fp32.
- bf16-weights: the forward and backward run on bf16 copies of the weights (activations and
  gradients bf16 too), the optimizer steps fp32 master weights. The masters are the model's own
  parameters: outside a step the model is fp32, so a checkpoint, the optimizer state, a resume
  and a fine-tune's warm start all see fp32 and need nothing of their own.
- auto: bf16-autocast on CUDA or where the CPU has bf16 units (AMX, AVX-512 BF16), else fp32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from model.cpu_features import cpu_bf16

PRECISIONS = ("auto", "fp32", "bf16-autocast", "bf16-weights")


def resolve(precision: str, device: torch.device, flags: frozenset[str] | None = None) -> str:
    """The precision a run uses: `precision` itself, or for "auto" what the device and the CPU's
    flags (default: this CPU's) make fastest."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    return "bf16-autocast" if device.type == "cuda" or cpu_bf16(flags) else "fp32"


def autocast(device: torch.device, precision: str) -> Any:
    """The forward pass's context: bf16 autocast for "bf16-autocast", nothing otherwise (bf16
    weights run bf16 by their dtype, fp32 by theirs)."""
    if precision == "bf16-autocast":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def bf16_weights(model: nn.Module, enabled: bool = True) -> Iterator[None]:
    """Inside, the model's parameters hold bf16 copies of their fp32 values; on leaving, each gets
    its fp32 value back and its gradient (bf16, from a backward run inside) as fp32, so clipping
    and the optimizer work on the fp32 masters. Tied parameters are one Parameter: cast once."""
    if not enabled:
        yield
        return
    params = list(model.parameters())  # deduplicated: a tied matrix appears once
    masters = [p.data for p in params]
    for p in params:
        p.data = p.data.to(torch.bfloat16)
    try:
        yield
    finally:
        for p, master in zip(params, masters, strict=True):
            grad = p.grad
            p.grad = None  # a gradient must match its parameter's dtype: restore the master first
            p.data = master
            if grad is not None:
                p.grad = grad.to(master.dtype)


def adamw_kwargs(fused: bool) -> dict[str, Any]:
    """How torch.optim.AdamW runs its update: one fused kernel over all tensors, or torch's
    default (on CPU a loop over the tensors; on CUDA foreach)."""
    return {"fused": True} if fused else {}
