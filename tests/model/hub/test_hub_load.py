"""Every hub-shaped folder loads, with the special ids its files publish; its logits equal the
`transformers` reference's; and its biased head makes special ids win at some gap positions, so
the fill-through-serve test (test_hub_serve.py) has something to drop.

The folders are tests/model/hub/folders.py's: published config.json key for key with the sizes
shrunk, real shard names, each family's real tokenizer file layout with a synthetic vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from model.checkpoint import load_checkpoint
from model.families import FAMILIES
from tests.model.hub.folders import HubFolder, build
from tests.model.hub.published import CHECKPOINTS, UNKNOWN
from tests.model.test_families import _bidirectional_logits, transformers

CODE = (
    "def area(w, h):\n    total = w * h\n    return total\n\n\n"
    "class Point:\n    def __init__(self, x):\n        self.x = x\n"
)
ONE_PER_LAYOUT = ["Dream-v0-Base-7B", "Open-dCoder-0.5B", "LLaDA-8B-Instruct"]  # 4 shards; tied, 1 file; 6 shards


def _expected(folder: HubFolder, what: str) -> int | None | str:
    """The id published.py says `what` (start, filler) resolves to, or UNKNOWN."""
    value = CHECKPOINTS[folder.name][what]
    if value == UNKNOWN:
        return UNKNOWN
    if value == "none":
        return None
    text = folder.special.get(value) if value in ("bos", "eos", "pad") else value
    return folder.added[text] if text is not None else None


@pytest.mark.parametrize("name", list(CHECKPOINTS))
def test_the_folder_loads_with_its_published_special_ids(hub: Callable[..., HubFolder], name: str) -> None:
    folder = hub(name)
    model, tok, raw = load_checkpoint(folder.path)
    sp = tok.specials
    assert sp.mask == folder.id_of("mask") or sp.mask == raw.get("mask_token_id")
    assert sp.eos == folder.id_of("eos")
    assert sp.filler == folder.filler == _expected(folder, "filler")
    if (start := _expected(folder, "start")) != UNKNOWN:
        assert sp.start == start
    in_vocab = {i for i in folder.added.values() if i < model.config.vocab_size}
    assert in_vocab <= sp.drop, f"special ids a fill could show: {sorted(in_vocab - sp.drop)}"
    assert sp.mask in sp.never and not set(sp.never) & {sp.filler}
    for text in FAMILIES[CHECKPOINTS[name]["family"]].never:
        if text in folder.added:
            assert folder.added[text] in sp.never, text
    assert tok.decode(tok.encode(CODE)) == CODE
    assert not set(tok.encode(CODE)) & set(folder.added.values()), "plain code must not encode to special ids"


def _reference(folder: HubFolder) -> torch.nn.Module:
    """transformers' own model of the folder's shape, holding the weights the builder wrote."""
    c = folder.config
    if CHECKPOINTS[folder.name]["family"] == "llada":
        cfg = transformers.LlamaConfig(
            vocab_size=c["embedding_size"],
            hidden_size=c["d_model"],
            intermediate_size=c["mlp_hidden_size"],
            num_hidden_layers=c["n_layers"],
            num_attention_heads=c["n_heads"],
            num_key_value_heads=c["n_kv_heads"],
            max_position_embeddings=c["max_sequence_length"],
            rms_norm_eps=c["rms_norm_eps"],
            rope_theta=c["rope_theta"],
            attention_bias=False,
            tie_word_embeddings=c["weight_tying"],
        )
        model = transformers.LlamaForCausalLM(cfg)
    else:
        keys = (
            "vocab_size",
            "hidden_size",
            "intermediate_size",
            "num_hidden_layers",
            "num_attention_heads",
            "num_key_value_heads",
            "max_position_embeddings",
            "rms_norm_eps",
            "rope_theta",
            "tie_word_embeddings",
        )
        model = transformers.Qwen2ForCausalLM(transformers.Qwen2Config(**{k: c[k] for k in keys}))
    model.load_state_dict(folder.state, strict=True)
    return model.eval()


@pytest.mark.parametrize("name", ONE_PER_LAYOUT)
def test_logits_match_the_transformers_reference(hub: Callable[..., HubFolder], name: str) -> None:
    folder = hub(name)
    ours, _, _ = load_checkpoint(folder.path)
    vocab = ours.config.vocab_size
    ids = torch.randint(0, vocab, (2, 40), generator=torch.Generator(device="cpu").manual_seed(1), device="cpu")
    ids[:, 5:9] = torch.tensor(sorted(folder.added.values())[:4], device="cpu")  # special ids as inputs too
    with torch.no_grad():
        got = ours(ids)
    want = _bidirectional_logits(_reference(folder), ids)
    assert (got - want).abs().max().item() <= 1e-4


@pytest.mark.parametrize("name", ["DiffuCoder-7B-Instruct", "Open-dCoder-0.5B", "LLaDA-8B-Instruct", "DreamOn-v0-7B"])
def test_the_biased_head_makes_special_ids_win_in_a_gap(hub: Callable[..., HubFolder], name: str) -> None:
    """At a gap's positions the raw argmax is a special id at some and ordinary code at others, so
    a fill that shows no special token has dropped them, not been lucky."""
    folder = hub(name)
    model, tok, _ = load_checkpoint(folder.path)
    sp = tok.specials
    winners: list[int] = []
    for cut in (20, 45, 70):
        prefix, suffix = tok.encode(CODE[:cut]), tok.encode(CODE[cut:])
        start = [sp.start] if sp.start is not None else []
        ids = torch.tensor([start + prefix + [sp.mask] * 12 + suffix], device="cpu")
        gap = torch.arange(len(start) + len(prefix), len(start) + len(prefix) + 12, device="cpu")
        with torch.no_grad():
            winners += model.token_logits(ids)[0, gap].argmax(-1).tolist()
    special = [t for t in winners if t in set(folder.biased)]
    assert special and len(special) < len(winners), (len(special), len(winners))


def test_a_list_eos_token_id_loads(tmp_path: Path) -> None:
    """Qwen and Llama-3 configs often give eos_token_id as a list: every one ends a fill, the first is EOS."""
    folder = build("Dream-Coder-v0-Instruct-7B", tmp_path, overrides={"eos_token_id": [151643, 151645]})
    _, tok, _ = load_checkpoint(folder.path)
    assert tok.specials.eos == 151643
    assert {151643, 151645} <= set(tok.specials.ends) and {151643, 151645} <= tok.specials.drop
