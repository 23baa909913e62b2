"""Attention backends: FlashAttention 2 on CUDA when importable, torch SDPA everywhere else.

With flash-attn, padded batches are packed (varlen) so requests of different lengths cost only
their real tokens; SDPA takes a boolean key mask instead. Both take q (B, H, Tq, D) and k, v
(B, H_kv, Tk, D) with H a multiple of H_kv (grouped-query attention).
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F


@functools.cache
def _flash() -> Any | None:
    try:
        import flash_attn
    except ImportError:
        return None
    return flash_attn


def backend_name(device: torch.device | str, dtype: torch.dtype) -> str:
    if torch.device(device).type == "cuda" and dtype in (torch.float16, torch.bfloat16) and _flash() is not None:
        return f"flash-attn {_flash().__version__} (varlen)"
    return f"torch SDPA ({str(dtype).removeprefix('torch.')})"


def unpad(x: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Pack the kept rows of x (B, T, ...): (packed (N, ...), flat indices, cu_seqlens (B+1,), max length)."""
    lengths = keep.sum(-1, dtype=torch.int32)
    indices = keep.flatten().nonzero().flatten()
    cu = F.pad(lengths.cumsum(0, dtype=torch.int32), (1, 0))
    return x.flatten(0, 1)[indices], indices, cu, int(lengths.max())


def pad(packed: torch.Tensor, indices: torch.Tensor, batch: int, length: int) -> torch.Tensor:
    out = packed.new_zeros((batch * length, *packed.shape[1:]))
    out[indices] = packed
    return out.view(batch, length, *packed.shape[1:])


def sdpa(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_padding: torch.Tensor | None, causal: bool
) -> torch.Tensor:
    if k.shape[1] != q.shape[1]:
        k = k.repeat_interleave(q.shape[1] // k.shape[1], dim=1)
        v = v.repeat_interleave(q.shape[1] // v.shape[1], dim=1)
    mask = None
    if key_padding is not None:
        mask = key_padding[:, None, None, :]
        if causal:
            Tq, Tk = q.shape[2], k.shape[2]
            mask = mask & torch.ones(Tq, Tk, dtype=torch.bool, device=q.device).tril(Tk - Tq)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal and mask is None)


def flash(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_padding: torch.Tensor | None, causal: bool
) -> torch.Tensor:
    fa = _flash()
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # flash-attn wants (B, T, H, D)
    if key_padding is None:
        return fa.flash_attn_func(q, k, v, causal=causal).transpose(1, 2)
    B, T = key_padding.shape
    q_p, idx, cu, longest = unpad(q, key_padding)
    k_p, _, _, _ = unpad(k, key_padding)
    v_p, _, _, _ = unpad(v, key_padding)
    out = fa.flash_attn_varlen_func(q_p, k_p, v_p, cu, cu, longest, longest, causal=causal)
    return pad(out, idx, B, T).transpose(1, 2)


def attend(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_padding: torch.Tensor | None, causal: bool
) -> torch.Tensor:
    """Attention output (B, H, Tq, D). Varlen flash needs queries and keys padded alike (Tq == Tk)."""
    same_layout = key_padding is None or q.shape[2] == k.shape[2]
    if q.is_cuda and q.dtype in (torch.float16, torch.bfloat16) and same_layout and _flash() is not None:
        return flash(q, k, v, key_padding, causal)
    return sdpa(q, k, v, key_padding, causal)
