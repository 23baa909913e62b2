"""Attention backends agree: padded SDPA equals each sequence alone, and flash-attn (on a GPU)
equals SDPA; flash-attn failing when called hands over to SDPA once and for all."""

from __future__ import annotations

import pytest
import torch

from model import attention
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


class BrokenFlash:
    """flash-attn as a wheel built for another GPU behaves: it imports, then every call raises."""

    __version__ = "2.0-broken"

    def __init__(self, error: Exception) -> None:
        self.error, self.calls = error, 0

    def flash_attn_func(self, *args: object, **kw: object) -> torch.Tensor:
        self.calls += 1
        raise self.error

    flash_attn_varlen_func = flash_attn_func


def _break_flash(monkeypatch: pytest.MonkeyPatch, error: Exception) -> BrokenFlash:
    fake = BrokenFlash(error)
    monkeypatch.setattr(attention, "_flash", lambda: fake)
    monkeypatch.setattr(attention, "_failed", [])
    monkeypatch.setattr(attention, "_flash_fits", lambda q, k, key_padding: True)  # as if on CUDA, in bf16
    return fake


def test_flash_failing_at_call_time_falls_back_to_sdpa_for_good(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fake = _break_flash(monkeypatch, RuntimeError("no kernel image is available for execution on the device"))
    assert attention.backend_name("cuda", torch.bfloat16).startswith("flash-attn")
    q, k, v = _qkv()
    keep = _padding([11, 4, 8], 11)
    for key_padding in (keep, None, keep):
        assert torch.equal(attention.attend(q, k, v, key_padding, False), sdpa(q, k, v, key_padding, False))
    assert fake.calls == 1  # tried once, then never again in this process
    assert [r.message for r in caplog.records].count(
        "flash-attn failed (RuntimeError: no kernel image is available for execution on the device); "
        "attention runs on torch SDPA from now on"
    ) == 1
    assert attention.backend_name("cuda", torch.bfloat16) == "torch SDPA (bfloat16)"


def test_running_out_of_memory_in_flash_is_not_a_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    _break_flash(monkeypatch, torch.OutOfMemoryError("CUDA out of memory"))
    q, k, v = _qkv()
    with pytest.raises(torch.OutOfMemoryError):
        attention.attend(q, k, v, None, False)
    assert not attention._failed
