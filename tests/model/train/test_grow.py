"""Block expansion (model.train.grow): the grown model computes what its base does, to the bit,
and a grown fine-tune resumes like any other run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from model.checkpoint import load_checkpoint, load_state
from model.train.grow import grow_state, grown_layer_sources
from model.train.state_files import load_sharded, save_sharded, shard_paths
from model.transformer import DiffusionLM

SHIPPED = Path(__file__).resolve().parents[3] / "model" / "checkpoints" / "fillgap-small"


def test_copies_spread_evenly_after_their_sources() -> None:
    assert grown_layer_sources(4, 6) == [0, 1, None, 2, 3, None]
    assert grown_layer_sources(4, 8) == [0, None, 1, None, 2, None, 3, None]
    assert grown_layer_sources(4, 4) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="fewer"):
        grown_layer_sources(4, 3)


@pytest.mark.parametrize("extra", [2, 4])
def test_the_grown_shipped_model_gives_the_same_logits(extra: int) -> None:
    base, tok, _ = load_checkpoint(SHIPPED)
    state = load_state(SHIPPED)
    state["lm_head.weight"] = state["model.embed_tokens.weight"]
    have = base.config.num_hidden_layers
    layers = have + extra
    grown = DiffusionLM(replace(base.config, num_hidden_layers=layers)).eval()
    grown.load_state_dict(grow_state(state, have, layers), strict=True)
    ids = torch.tensor([tok.encode("def area(w, h):\n    return w * h\n")])
    with torch.no_grad():
        assert torch.equal(grown.token_logits(ids), base.token_logits(ids))
    copy = grown_layer_sources(have, layers).index(None)
    assert grown.model.layers[copy].self_attn.o_proj.weight.abs().sum() == 0


def test_optimizer_state_goes_in_shards_under_the_cap(tmp_path: Path) -> None:
    tensors = {f"{i}.exp_avg": torch.full((1000,), float(i)) for i in range(10)}  # 4 kB each
    paths = save_sharded(tensors, tmp_path, max_bytes=10_000)
    assert len(paths) == 5 and all(p.stat().st_size < 10_000 + 2_000 for p in paths)
    assert {k: v.sum() for k, v in load_sharded(tmp_path).items()} == {k: v.sum() for k, v in tensors.items()}
    save_sharded(dict(list(tensors.items())[:2]), tmp_path, max_bytes=10_000)
    assert len(shard_paths(tmp_path)) == 1 and len(load_sharded(tmp_path)) == 2  # no stale shards left


def test_a_grown_fine_tune_trains_saves_and_resumes(tmp_path: Path, tiny_checkpoint: Path) -> None:
    from model.train.loop import train
    from model.train.options import TrainOptions
    from tests.model.conftest import CODE

    data = tmp_path / "src"
    data.mkdir()
    for i, text in enumerate(CODE[:6]):
        (data / f"m{i}.py").write_text(f"# module {i}\n" + text * 8)
    out = tmp_path / "run"
    opts = TrainOptions(
        out=str(out),
        data=[str(data)],
        init=str(tiny_checkpoint),
        grow_layers=3,
        seq_len=32,
        batch_size=2,
        steps=2,
        threads=1,
        log_every=1,
        span_fraction=1.0,
    )
    train(opts)
    train(replace(opts, steps=3))  # resumed from the shards it wrote
    model, _, config = load_checkpoint(out)
    assert model.config.num_hidden_layers == 3 and config["fillgap_training"]["steps"] == 3
    assert shard_paths(out) and not (out / "optimizer.safetensors").exists()
