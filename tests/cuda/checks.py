"""What the CUDA check runs, step by step: random checkpoints, sampler runs, engine fills, a batch.

Each step is a function that raises (AssertionError or anything else) when it fails and returns
a dict of what it measured; check.py times it and writes the report.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import torch

from model.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint, save_checkpoint
from model.engine import Engine, load_engine
from model.sampler import infill
from model.serve.batcher import Batcher, Job
from model.tokenizer import CodeTokenizer
from model.transformer import DiffusionLM, ModelConfig
from model.wire.protocol import ErrorReply, FillRequest, FillResult
from model.wire.sampling import SamplerSettings, base

# "tiny" checks the code paths in seconds; "0.5b" has Qwen2-0.5B's shapes (Open-dCoder's base) and
# its 151,936-token output layer, stored in bf16 as the hub ships it. Both use the shipped
# tokenizer: the ids it does not know decode to nothing, and the ranges are checked on the ids.
SIZES: dict[str, tuple[dict[str, Any], torch.dtype]] = {
    "tiny": (
        dict(hidden_size=128, intermediate_size=344, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2),
        torch.float32,
    ),
    "0.5b": (
        dict(
            vocab_size=151936,
            hidden_size=896,
            intermediate_size=4864,
            num_hidden_layers=24,
            num_attention_heads=14,
            num_key_value_heads=2,
            rope_theta=1_000_000.0,
        ),
        torch.bfloat16,
    ),
}

# The sampler paths a fill can take on the device, run straight through `infill`.
SAMPLINGS: dict[str, SamplerSettings] = {
    "greedy": base(steps=8),
    "greedy, dual cache": base(steps=8, dual_cache=True),
    "temperature 0.8": base(steps=8, temperature=0.8, top_p=0.95, seed=3),
    "temperature 0.8, dual cache": base(steps=8, temperature=0.8, dual_cache=True, seed=3),
    "temperature 0.8, random order": base(steps=8, temperature=0.8, order="random", seed=3),
    "random order, blocks, dual cache": base(steps=8, order="random", block=8, dual_cache=True),
    "threshold 0.9, entropy order, dual cache": base(threshold=0.9, order="entropy", dual_cache=True),
}

REPO = Path(__file__).resolve().parents[2]
_SOURCE = (REPO / "model" / "sampler.py").read_text()


def code(window: int) -> tuple[str, str]:
    """Real code on both sides of a 200-character gap: `window` characters of each."""
    return _SOURCE[:window], _SOURCE[window + 200 : 2 * window + 200]


def fills(prefix: str, suffix: str) -> dict[str, FillRequest]:
    """The fills run through the engine; a request sets only some fields, the engine the rest."""
    S, draft = SamplerSettings, "return probs.sum(-1)"

    def at(n: int, **fields: Any) -> FillRequest:
        return FillRequest(id=n, prefix=prefix, suffix=suffix, **fields)

    return {
        "greedy": at(1, budgets=[16, 32], sampler=S(steps=8, dual_cache=False)),  # plain passes: shared
        "greedy, dual cache": at(2, budgets=[16, 32], sampler=S(dual_cache=True)),
        "temperature 0.8, random order": at(3, budgets=[24], sampler=S(temperature=0.8, order="random", seed=1)),
        "temperature 0.8, dual cache": at(4, budgets=[24], sampler=S(temperature=0.8, dual_cache=True, seed=2)),
        "revise the draft's ranges": at(5, draft=draft, remask=[[7, 12]], sampler=S(temperature=0.8, dual_cache=False)),
        "revise where the model doubts": at(6, draft=draft, remask_below=0.5),
        "joint holes": at(
            7, holes=["...", "..."], between=["\n    x = 1\n    "], budgets=[8], sampler=S(dual_cache=False)
        ),
    }


BATCH = ["greedy", "temperature 0.8, dual cache", "revise the draft's ranges", "joint holes"]  # 4 at once


def shipped_tokenizer() -> CodeTokenizer:
    return load_checkpoint(DEFAULT_CHECKPOINT)[1]


def build_checkpoint(size: str, folder: Path, device: str, tok: CodeTokenizer) -> dict[str, Any]:
    """A random-weight checkpoint of `size` in `folder`, initialised on `device` (fast on a GPU)."""
    shape, dtype = SIZES[size]
    cfg = ModelConfig(**{"vocab_size": tok.vocab_size, "max_position_embeddings": 4096, **shape})
    torch.manual_seed(0)
    with torch.device(device):
        model = DiffusionLM(cfg)
    save_checkpoint(model.to(dtype), tok, folder)
    weights = folder / "model.safetensors"
    return {"parameters": model.num_parameters(), "bytes": weights.stat().st_size, "dtype": str(dtype)}


def load(folder: Path, device: str) -> tuple[Engine, dict[str, Any]]:
    engine = load_engine(folder, device=device)
    info = engine.info
    return engine, {"device": info.device, "backend": info.backend, "parameters": info.parameters}


def _gap_batch(engine: Any, text: tuple[str, str], gap: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Two rows of prefix, `gap` masks, suffix on the engine's device, and where the gap is."""
    tok, device = engine.tok, next(engine.model.parameters()).device
    left, right = tok.encode(text[0]), tok.encode(text[1])
    row = left + [tok.specials.mask] * gap + right
    ids = torch.tensor([row, row], device=device)
    where = torch.zeros(ids.shape, dtype=torch.bool, device=device)
    where[:, len(left) : len(left) + gap] = True
    return ids, where


def sample(engine: Any, s: SamplerSettings, text: tuple[str, str]) -> dict[str, Any]:
    """`infill` straight on the engine's model: outputs on its device, every id in the vocabulary."""
    model, tok = engine.model, engine.tok
    device = next(model.parameters()).device
    ids, gap = _gap_batch(engine, text)
    out = infill(model, ids, gap, s, tok.specials)
    assert out.ids.device == device and out.confidence.device == device, (out.ids.device, out.confidence.device)
    vocab = model.config.vocab_size
    assert int(out.ids.min()) >= 0 and int(out.ids.max()) < vocab, f"ids outside [0, {vocab})"
    assert not bool((out.ids[gap] == tok.specials.mask).any()), "a gap position is still masked"
    assert bool(((out.confidence[gap] >= 0) & (out.confidence[gap] <= 1)).all()), "confidence outside [0, 1]"
    assert torch.equal(out.ids[~gap], ids[~gap]), "a position outside the gap changed"
    assert out.forward_passes > 0
    return {"forward_passes": out.forward_passes, "refined": out.refined}


def seeded_repeat(engine: Any, text: tuple[str, str]) -> dict[str, Any]:
    """The device generator is seeded from the settings: the same seed draws the same fill."""
    s = base(steps=8, temperature=0.8, order="random", seed=11)
    model, tok = engine.model, engine.tok
    ids, gap = _gap_batch(engine, text)
    first, second = infill(model, ids, gap, s, tok.specials), infill(model, ids, gap, s, tok.specials)
    assert torch.equal(first.ids, second.ids), "the same seed drew different tokens"
    return {"tokens_compared": int(gap.sum())}


def fill(engine: Engine, req: FillRequest) -> dict[str, Any]:
    result = engine.fill(req)
    _check_result(result)
    return {"candidates": len(result.candidates), "forward_passes": result.forward_passes, "ms": result.elapsed_ms}


def _check_result(result: FillResult) -> None:
    assert result.candidates, "no candidates"
    for c in result.candidates:
        assert isinstance(c.text, str) and len(c.tokens) == len(c.confidences)
        assert all(0.0 <= p <= 1.0 for p in c.confidences), "confidence outside [0, 1]"


def batched(engine: Engine, reqs: list[FillRequest]) -> dict[str, Any]:
    """The fills submitted at once to one Batcher: each answers, and rows shared passes."""
    batcher = Batcher(engine, gather_s=0.01)
    answers: dict[int, FillResult | ErrorReply] = {}
    done = threading.Event()

    def reply(msg: FillResult | ErrorReply) -> None:
        answers[msg.id] = msg
        if len(answers) == len(reqs):
            done.set()

    start = time.perf_counter()
    for req in reqs:
        batcher.submit(Job(req, reply, owner=None))
    assert done.wait(300), f"only {len(answers)} of {len(reqs)} batched fills answered"
    failed = {i: a.message for i, a in answers.items() if isinstance(a, ErrorReply)}
    assert not failed, f"batched fills failed: {failed}"
    for answer in answers.values():
        _check_result(answer)  # type: ignore[arg-type]
    loop = batcher.loop
    assert loop.rows_run > loop.forward_passes, "no pass was shared"
    return {
        "fills": len(reqs),
        "seconds": time.perf_counter() - start,
        "shared_passes": loop.forward_passes,
        "rows_run": loop.rows_run,
    }


def flash_parity(engine: Any) -> dict[str, Any]:
    """SDPA against flash-attn on the same model and rows (one padded): the largest logit gap.
    Flash must really run (a fallback to SDPA would compare SDPA with itself)."""
    import model.attention as attention

    net, device = engine.model, next(engine.model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(0)
    ids = torch.randint(0, net.config.vocab_size, (2, 96), generator=gen, device=device)
    real = torch.ones(ids.shape, dtype=torch.bool, device=device)
    real[1, 64:] = False
    flash_kernel, found, calls = attention.flash, attention._flash, []

    def counted(*args: Any) -> torch.Tensor:
        calls.append(1)
        return flash_kernel(*args)

    out: dict[str, Any] = {"flash_attn": found().__version__}
    for name, kp in (("unpadded", None), ("padded (varlen)", real)):
        calls.clear()
        with torch.no_grad():
            attention.flash = counted
            try:
                flash = net.token_logits(ids, kp).float()
                attention._flash = lambda: None  # attend falls back to SDPA while this is set
                sdpa = net.token_logits(ids, kp).float()
            finally:
                attention.flash, attention._flash = flash_kernel, found
        assert len(calls) == net.config.num_hidden_layers, f"{name}: flash ran in {len(calls)} layers"
        keep = real if kp is not None else torch.ones_like(real)
        diff = float((flash - sdpa)[keep].abs().max())
        scale = float(sdpa[keep].abs().max())
        out[name] = {"max_abs_diff": diff, "max_abs_logit": scale}
        assert diff <= 0.02 + 0.02 * scale, f"{name}: flash and SDPA logits differ by {diff:.4f}"
    return out


def bench_decode(device: str, size: str, out: Path, gaps: str, context: int) -> dict[str, Any]:
    """`python -m model.bench.decode --device DEVICE` on a random model of `size`: it runs, every row
    has a rate; the rows (tokens/s against the autoregressive baseline) are what it measured."""
    report = out / f"bench-decode-{size}.json"
    command = [sys.executable, "-m", "model.bench.decode", "--device", device, "--random-model", size]
    command += ["--gaps", gaps, "--context", str(context), "--repeats", "2", "--json", str(report)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    rows = json.loads(report.read_text())["rows"]
    assert rows and all(r["tok_s"] > 0 for r in rows), "a row without a rate"
    return {"rows": [{k: r[k] for k in ("gap", "method", "tok_s", "forward_passes", "vs_ar")} for r in rows]}
