"""Training's number formats (model.train.precision): bf16 weights step fp32 masters, "auto" follows
the device and the CPU's flags, and a tiny run in each precision trains, saves fp32 and resumes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open

from model.checkpoint import load_checkpoint
from model.train import precision
from model.train.loop import build_optimizer, train
from model.train.objective import TrainConfig, weighted_loss
from model.train.options import TrainOptions
from model.transformer import DiffusionLM, ModelConfig
from tests.model.conftest import CODE


def _tiny_model() -> DiffusionLM:
    torch.manual_seed(0)
    cfg = ModelConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    return DiffusionLM(cfg)


def test_bf16_weights_run_the_pass_in_bf16_and_step_the_fp32_masters() -> None:
    model = _tiny_model()
    opt = build_optimizer(model, TrainConfig(lr=1e-2))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    ids = torch.randint(0, 64, (2, 16))
    seen: set[torch.dtype] = set()
    with precision.bf16_weights(model):
        seen |= {p.dtype for p in model.parameters()}
        logits = model.token_logits(ids)
        assert logits.dtype == torch.bfloat16
        weighted_loss(logits, ids, torch.ones(2, 16) / 16).backward()
    assert seen == {torch.bfloat16}
    params = list(model.parameters())
    assert {p.dtype for p in params} == {torch.float32}
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in params)
    assert model.lm_head.weight is model.model.embed_tokens.weight  # still tied
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    moved = [n for n, p in model.named_parameters() if not torch.equal(p, before[n])]
    assert len(moved) == len(before)
    # the masters moved by fp32-sized steps, not by bf16 rounding of the old values
    w = dict(model.named_parameters())["model.layers.0.mlp.up_proj.weight"]
    assert not torch.equal(w, w.to(torch.bfloat16).float())


def test_auto_resolves_from_the_device_and_the_cpus_flags() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert precision.resolve("auto", cpu, frozenset({"avx2", "fma"})) == "fp32"
    assert precision.resolve("auto", cpu, frozenset({"avx2", "amx_bf16", "amx_tile"})) == "bf16-autocast"
    assert precision.resolve("auto", cpu, frozenset({"avx512f", "avx512_bf16"})) == "bf16-autocast"
    assert precision.resolve("auto", cuda, frozenset()) == "bf16-autocast"
    assert precision.resolve("bf16-weights", cpu, frozenset({"avx2"})) == "bf16-weights"
    assert precision.resolve("fp32", cuda) == "fp32"
    with pytest.raises(ValueError, match="fp16"):
        precision.resolve("fp16", cpu)


def _options(data: Path, out: Path, steps: int, **speed: Any) -> TrainOptions:
    sizes: dict[str, Any] = dict(
        vocab_size=300, hidden=32, ffn=64, layers=2, heads=4, kv_heads=2, seq_len=32, batch_size=2
    )
    return TrainOptions(
        out=str(out),
        data=[str(data)],
        steps=steps,
        log_every=1,
        threads=1,
        **sizes,
        **speed,
    )


@pytest.fixture()
def keep_threads() -> Iterator[None]:
    """`train` sets torch's thread count for the process; the tests after these keep theirs."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("keep_threads")
@pytest.mark.parametrize(
    "speed",
    [{"precision": "fp32"}, {"precision": "bf16-autocast"}, {"precision": "bf16-weights", "fused_adamw": True}],
    ids=["fp32", "bf16-autocast", "bf16-weights-fused"],
)
def test_a_tiny_run_in_each_precision_saves_fp32_and_resumes(tmp_path: Path, speed: dict) -> None:
    data = tmp_path / "src"
    data.mkdir()
    for i, text in enumerate(CODE[:6]):
        (data / f"m{i}.py").write_text(f"# module {i}\n" + text * 8)
    out = tmp_path / "run"
    train(_options(data, out, 2, **speed))
    with safe_open(str(out / "model.safetensors"), "pt") as f:
        assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"F32"}
    first = load_checkpoint(out)[0].state_dict()
    train(_options(data, out, 3, **speed))  # resumes at step 2: one more step
    assert json.loads((out / "train_state.json").read_text())["step"] == 3
    assert [json.loads(line)["step"] for line in (out / "train_log.jsonl").read_text().splitlines()] == [1, 2, 3]
    model, _, config = load_checkpoint(out)
    assert config["fillgap_training"]["precision"] == speed["precision"]
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, first[k])]
    assert changed and all(v.dtype == torch.float32 for v in model.state_dict().values())
    assert torch.isfinite(model(torch.tensor([[1, 2, 3]]))).all()
