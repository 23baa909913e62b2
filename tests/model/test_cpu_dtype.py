"""bf16 on a CPU: `auto` takes it only where the CPU has bf16 units, asked for by name it loads
with a warning where it has not, and the shipped model's bf16 logits match fp32's on real code.

The parity bounds come from measurement (bf16 emulated on an AVX2 CPU, torch 2.13): over 4,800
masked positions (400 windows of this repo's own code, 64 tokens, a 12-token gap each) top-1
agreement was 99.3% (the worst 16 windows 97.9%), every disagreement sat where fp32's top two lie
within 0.11 nats, the largest log-probability difference over the whole vocabulary was 0.26 nats
and 0.07 at fp32's top-1; on this test's 192 positions 99.0%, 0.27 and 0.045.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from model import cpu_features
from model.checkpoint import load_checkpoint
from model.engine import CPU_BF16_ENGINES, load_engine, slow_dtype, torch_dtype
from model.sampler import choose
from model.tokenizer import SpecialIds
from model.wire.protocol import FillRequest
from model.wire.sampling import base

REPO = Path(__file__).resolve().parents[2]
AMX = frozenset({"avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16"})
AVX512_BF16 = frozenset({"avx2", "avx512f", "avx512_bf16"})
AVX2 = frozenset({"sse4_2", "avx", "avx2", "fma", "f16c"})
WINDOWS, WIDTH, GAP = 16, 64, 12


def test_auto_picks_bf16_on_a_cpu_only_where_it_has_bf16_units() -> None:
    assert torch_dtype("auto", "cpu", cpu_bf16_ok=True, flags=AMX) == torch.bfloat16
    assert torch_dtype("auto", "cpu", cpu_bf16_ok=True, flags=AVX512_BF16) == torch.bfloat16
    assert torch_dtype("auto", "cpu", cpu_bf16_ok=True, flags=AVX2) == torch.float32
    assert torch_dtype("auto", "cpu", cpu_bf16_ok=True, flags=frozenset()) == torch.float32  # no /proc/cpuinfo
    # an engine not checked in bf16 on a CPU (DiffusionGemma) keeps fp32 there
    assert torch_dtype("auto", "cpu", flags=AMX) == torch.float32 and "block-diffusion" not in CPU_BF16_ENGINES
    assert torch_dtype("auto", "cuda:0", flags=AVX2) == torch.bfloat16
    assert torch_dtype("auto", "mps", cpu_bf16_ok=True, flags=AMX) == torch.float32
    # a dtype asked for by name is what loads, units or not
    assert torch_dtype("bfloat16", "cpu", cpu_bf16_ok=True, flags=AVX2) == torch.bfloat16
    assert torch_dtype("float32", "cpu", cpu_bf16_ok=True, flags=AMX) == torch.float32


def test_bf16_is_called_slow_only_on_a_cpu_without_the_units() -> None:
    why = slow_dtype(torch.bfloat16, "cpu", flags=AVX2)
    assert why is not None and "slow" in why and "AMX" in why
    assert slow_dtype(torch.bfloat16, "cpu", flags=AMX) is None
    assert slow_dtype(torch.float32, "cpu", flags=AVX2) is None
    assert slow_dtype(torch.bfloat16, "cuda", flags=AVX2) is None


def _this_cpu(monkeypatch: pytest.MonkeyPatch, flags: frozenset[str]) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(cpu_features, "cpu_flags", lambda: flags)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "bfloat16" in r.getMessage()]


def test_the_engine_reports_the_dtype_auto_resolved_to(
    tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    _this_cpu(monkeypatch, AMX)
    engine = load_engine(tiny_checkpoint, device="cpu")
    assert engine.info.dtype == "bfloat16" and engine.info.backend == "torch SDPA (bfloat16)"
    _this_cpu(monkeypatch, AVX2)
    assert load_engine(tiny_checkpoint, device="cpu").info.dtype == "float32"
    assert _warnings(caplog) == []


def test_bf16_asked_for_without_the_units_loads_with_one_warning(
    tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    _this_cpu(monkeypatch, AVX2)
    engine = load_engine(tiny_checkpoint, device="cpu", dtype="bfloat16")
    assert engine.info.dtype == "bfloat16"
    (warning,) = _warnings(caplog)
    assert "slow" in warning and "emulated" in warning
    # the sampler's float math stays fp32: confidences are probabilities of fp32 softmaxes
    res = engine.fill(FillRequest(id=1, prefix="def add(a, b):\n    ", suffix="\n", budgets=[6]))
    assert res.candidates and all(0.0 <= c <= 1.0 for cand in res.candidates for c in cand.confidences)
    assert len(_warnings(caplog)) == 1  # warned at load, not per fill


def test_choose_scores_bf16_logits_in_fp32() -> None:
    torch.manual_seed(0)
    logits = (torch.randn(2, 5, 300) * 4).to(torch.bfloat16)
    sp = SpecialIds(mask=2, null=3, eos=1, pad=0)
    for order in ("confidence", "margin", "entropy"):
        s = base(order=order)
        tokens, conf, score = choose(logits.clone(), s, None, sp)
        want_tokens, want_conf, want_score = choose(logits.float(), s, None, sp)
        assert conf.dtype == score.dtype == torch.float32
        assert torch.equal(tokens, want_tokens) and torch.equal(conf, want_conf) and torch.equal(score, want_score)


def _code_windows(encode: Callable[[str], list[int]], mask: int) -> tuple[torch.Tensor, torch.Tensor]:
    """WINDOWS windows of this repo's own code (unseen in training), each with a GAP-token gap masked."""
    rows: list[list[int]] = []
    for path in sorted((REPO / "model").glob("*.py")):
        ids = encode(path.read_text())
        if len(ids) >= 2 * WIDTH:
            rows.append(ids[WIDTH : 2 * WIDTH])  # past the module docstring's start
        if len(rows) == WINDOWS:
            break
    assert len(rows) == WINDOWS
    ids = torch.tensor(rows)
    start = WIDTH // 2 - GAP // 2
    ids[:, start : start + GAP] = mask
    return ids, torch.arange(start, start + GAP)


def test_the_shipped_model_in_bf16_scores_real_code_as_fp32_does(shipped_checkpoint: Path) -> None:
    fp32, tok, _ = load_checkpoint(shipped_checkpoint, torch.float32, "cpu")
    bf16, _, _ = load_checkpoint(shipped_checkpoint, torch.bfloat16, "cpu")
    assert next(bf16.parameters()).dtype == torch.bfloat16
    ids, cols = _code_windows(tok.encode, tok.specials.mask)
    with torch.no_grad():
        a = torch.log_softmax(fp32.token_logits(ids, cols=cols).float(), dim=-1)
        b = torch.log_softmax(bf16.token_logits(ids, cols=cols).float(), dim=-1)
    top, second = a.topk(2, dim=-1).values.unbind(-1)
    differ = a.argmax(-1) != b.argmax(-1)
    agree = 1 - differ.float().mean().item()
    best = a.argmax(-1, keepdim=True)
    at_best = (a.gather(-1, best) - b.gather(-1, best)).abs().max().item()
    worst = (a - b).abs().max().item()
    print(
        f"bf16 vs fp32 over {differ.numel()} positions: top-1 {agree:.3f}, "
        f"max |dlogp| {worst:.3f}, at top-1 {at_best:.3f}"
    )
    assert agree >= 0.95
    assert bool(((top - second)[differ] < 0.25).all())  # they differ only where fp32 itself hesitates
    assert worst <= 0.5 and at_best <= 0.15
