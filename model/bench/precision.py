"""`fillgap bench`'s fp32 against bf16 rows: the masked model's forward pass at the shapes fills
run and one whole typing fill, both dtypes in one run, as ratios, with how far bf16's logits stray.

`--dtype auto` picks bf16 on a CPU only where it has bf16 units (model/engine.py torch_dtype), so
every row carries the CPU's flag state: on a CPU without them (AVX2 only) bf16 is emulated and
shows as much slower, which is why auto keeps fp32 there. The bf16 side then runs one timed
repeat, not `repeats`, to stay cheap.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from model.cpu_features import BF16_FLAGS, cpu_bf16, cpu_flags
from model.engine import LoadOptions, torch_dtype
from model.tokenizer import SpecialIds
from model.transformer import DiffusionLM
from model.wire.protocol import FillRequest

# (rows, tokens, gap tokens per row): a typing fill's pass (one budget) and an invoked fill's (four budgets)
SHAPES = ((1, 64, 8), (4, 256, 32))
QUICK_SHAPES = SHAPES[:1]
TYPING_BUDGET = 16  # tokens of the one typing fill's gap
FILL_CONTEXT = 100  # tokens of prefix and of suffix around it
PRECISION_TOKENS = max(b * w for b, w, _ in SHAPES)  # the real code the rows take


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: oneDNN builds its kernels on the first call
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def _window(
    tokens: list[int], rows: int, width: int, gap: int, mask: int, device: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """`rows` consecutive windows of real code, each with `gap` masked tokens in its middle, and the gap's columns."""
    ids = torch.tensor([tokens[r * width : (r + 1) * width] for r in range(rows)], device=device)
    start = width // 2 - gap // 2
    ids[:, start : start + gap] = mask
    return ids, torch.arange(start, start + gap, device=device)


def agreement(fp32: torch.Tensor, bf16: torch.Tensor) -> dict[str, float]:
    """How bf16's logits (..., V) stray from fp32's: the share of positions whose top-1 token is the
    same, and the largest log-probability difference over the whole vocabulary (computed in fp32)."""
    a = torch.log_softmax(fp32.float(), dim=-1)
    b = torch.log_softmax(bf16.float(), dim=-1)
    return {
        "top1_agree": (a.argmax(-1) == b.argmax(-1)).float().mean().item(),
        "max_logp_diff": (a - b).abs().max().item(),
    }


def _forward_rows(
    model: DiffusionLM, tokens: list[int], specials: SpecialIds, device: str, repeats: int, shapes: tuple
) -> list[dict]:
    m32 = model if next(model.parameters()).dtype == torch.float32 else copy.deepcopy(model).float()
    m16 = copy.deepcopy(model).to(torch.bfloat16)
    bf16_repeats = repeats if _bf16_fast(device) else 1
    rows = []
    for batch, width, gap in shapes:
        ids, cols = _window(tokens, batch, width, gap, specials.mask, device)
        fp32, bf16 = _logits(m32, ids, cols), _logits(m16, ids, cols)
        what = f"forward {batch}x{width} ({gap}-token gap)"
        rows.append(_row(what, _median_ms(fp32, repeats), _median_ms(bf16, bf16_repeats), agreement(fp32(), bf16())))
    return rows


def _logits(model: DiffusionLM, ids: torch.Tensor, cols: torch.Tensor) -> Callable[[], torch.Tensor]:
    """The pass a fill runs: only the gap's columns reach the output layer."""

    def run() -> torch.Tensor:
        with torch.no_grad():
            return model.token_logits(ids, cols=cols)

    return run


def _bf16_fast(device: str) -> bool:
    """Whether bf16 runs on real units here (a GPU, or a CPU with AMX / AVX-512 BF16)."""
    return not device.startswith("cpu") or cpu_bf16()


def _fill_row(folder: Path, tokens: list[int], device: str, repeats: int) -> dict:
    """One typing fill through the masked engine, as the worker runs it, in each dtype: the gap
    between two runs of `tokens` (real code), the text of both answers compared."""
    from model.masked_engine import MaskedDiffusionEngine  # the engine logs; keep it out of the plain rows

    engines = {d: MaskedDiffusionEngine(folder, LoadOptions(device=device, dtype=d)) for d in ("float32", "bfloat16")}
    tok = engines["float32"].tok
    after = FILL_CONTEXT + TYPING_BUDGET
    prefix, suffix = tok.decode(tokens[:FILL_CONTEXT]), tok.decode(tokens[after : after + FILL_CONTEXT])
    req = FillRequest(id=1, prefix=prefix, suffix=suffix, budgets=[TYPING_BUDGET], profile="typing")
    fp32_ms = _median_ms(lambda: engines["float32"].fill(req), repeats)
    bf16_ms = _median_ms(lambda: engines["bfloat16"].fill(req), repeats if _bf16_fast(device) else 1)
    a, b = engines["float32"].fill(req).candidates[0], engines["bfloat16"].fill(req).candidates[0]
    return _row(f"typing fill ({TYPING_BUDGET}-token budget)", fp32_ms, bf16_ms, {"same_text": float(a.text == b.text)})


def _row(what: str, fp32_ms: float, bf16_ms: float, parity: dict[str, float]) -> dict:
    return {"what": what, "fp32_ms": fp32_ms, "bf16_ms": bf16_ms, "bf16_speedup": fp32_ms / bf16_ms, **parity}


def precision(
    model: DiffusionLM,
    tokens: list[int],
    specials: SpecialIds,
    device: str,
    repeats: int,
    folder: Path | None,
    quick: bool = False,
) -> dict:
    """The fp32/bf16 rows; `tokens` real code (at least PRECISION_TOKENS), `folder` the checkpoint for the
    fill row (None: a random-weight model, forward rows only)."""
    rows = _forward_rows(model, tokens, specials, device, repeats, QUICK_SHAPES if quick else SHAPES)
    if folder is not None and not quick:
        rows.append(_fill_row(folder, tokens, device, repeats))
    units = sorted(cpu_flags() & BF16_FLAGS)
    return {
        "device": device,
        "cpu_bf16": cpu_bf16(),
        "cpu_bf16_flags": units,
        "auto_dtype": str(torch_dtype("auto", device, cpu_bf16_ok=True)).removeprefix("torch."),
        "rows": rows,
    }
