"""Attention backends agree: padded SDPA equals each sequence alone, and flash-attn (on a GPU)
equals SDPA."""

from __future__ import annotations

import pytest
import torch

from model.attention import _flash, flash, pad, sdpa, unpad


def _qkv(B: int = 3, H: int = 4, Hkv: int = 2, T: int = 11, D: int = 16, **kw: object) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    return tuple(torch.randn(B, h, T, D, generator=g).to(**kw) for h in (H, Hkv, Hkv))  # type: ignore[arg-type]


def _padding(lengths: list[int], T: int, device: str = "cpu") -> torch.Tensor:
    return torch.arange(T, device=device)[None, :] < torch.tensor(lengths, device=device)[:, None]


def test_unpad_then_pad_restores_the_kept_rows() -> None:
    x = torch.randn(3, 7, 5)
    keep = _padding([7, 2, 5], 7)
    packed, idx, cu, longest = unpad(x, keep)
    assert packed.shape[0] == 14 and cu.tolist() == [0, 7, 9, 14] and longest == 7
    assert torch.equal(pad(packed, idx, 3, 7)[keep], x[keep])


@pytest.mark.parametrize("causal", [False, True])
def test_padded_sdpa_equals_each_sequence_alone(causal: bool) -> None:
    q, k, v = _qkv()
    lengths = [11, 4, 8]
    out = sdpa(q, k, v, _padding(lengths, 11), causal)
    for b, n in enumerate(lengths):
        alone = sdpa(q[b : b + 1, :, :n], k[b : b + 1, :, :n], v[b : b + 1, :, :n], None, causal)
        assert torch.allclose(out[b : b + 1, :, :n], alone, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available() or _flash() is None, reason="needs CUDA and flash-attn")
@pytest.mark.parametrize("causal", [False, True])
def test_flash_varlen_matches_sdpa_on_gpu(causal: bool) -> None:
    q, k, v = _qkv(T=300, D=64, device="cuda", dtype=torch.bfloat16)
    keep = _padding([300, 17, 129], 300, "cuda")
    want = sdpa(q.float(), k.float(), v.float(), keep, causal)
    got = flash(q, k, v, keep, causal).float()
    assert (got - want)[keep[:, None, :, None].expand_as(got)].abs().max().item() < 2e-2
    dense = flash(q, k, v, None, causal).float()
    assert (dense - sdpa(q.float(), k.float(), v.float(), None, causal)).abs().max().item() < 2e-2
