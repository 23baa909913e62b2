"""Attention backends: FlashAttention 2 on CUDA when importable, torch SDPA everywhere else.

With flash-attn, padded batches are packed (varlen) so requests of different lengths cost only
their real tokens; SDPA takes a boolean key mask instead. Both take q (B, H, Tq, D) and k, v
(B, H_kv, Tk, D) with H a multiple of H_kv (grouped-query attention).

flash-attn can import and still fail when called (a wheel built for another GPU generation or
CUDA, a head size it lacks): the first failure is logged and SDPA serves the rest of the process.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import torch
import torch.nn.functional as F

log = logging.getLogger("fillgap.worker")
_failed: list[str] = []  # why flash-attn was given up, once it has been


@functools.cache
def _flash() -> Any | None:
    try:
        import flash_attn
    except Exception as exc:  # a broken build raises ImportError (undefined symbol), OSError, RuntimeError
        if not (isinstance(exc, ModuleNotFoundError) and exc.name == "flash_attn"):  # not installed: quiet
            log.warning("flash-attn does not import (%s); attention runs on torch SDPA", exc)
        return None
    return flash_attn


def _flash_usable() -> bool:
    return not _failed and _flash() is not None


def backend_name(device: torch.device | str, dtype: torch.dtype) -> str:
    if torch.device(device).type == "cuda" and dtype in (torch.float16, torch.bfloat16) and _flash_usable():
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


def _flash_fits(q: torch.Tensor, k: torch.Tensor, key_padding: torch.Tensor | None) -> bool:
    """Whether flash-attn can take this call: CUDA, half precision, and for varlen queries and
    keys padded alike (Tq == Tk)."""
    same_layout = key_padding is None or q.shape[2] == k.shape[2]
    return q.is_cuda and q.dtype in (torch.float16, torch.bfloat16) and same_layout


def attend(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_padding: torch.Tensor | None, causal: bool
) -> torch.Tensor:
    """Attention output (B, H, Tq, D): flash-attn where it fits and works, SDPA otherwise."""
    if _flash_fits(q, k, key_padding) and _flash_usable():
        try:
            return flash(q, k, v, key_padding, causal)
        except torch.OutOfMemoryError:
            raise  # SDPA would need more memory, not less
        except Exception as exc:
            _failed.append(f"{type(exc).__name__}: {exc}")
            log.warning("flash-attn failed (%s); attention runs on torch SDPA from now on", _failed[0])
    return sdpa(q, k, v, key_padding, causal)
