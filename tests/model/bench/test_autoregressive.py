from __future__ import annotations

import torch

from model.bench.autoregressive import greedy_decode, greedy_decode_uncached
from model.tokenizer import CodeTokenizer
from model.transformer import DiffusionLM


def test_kv_cached_greedy_decode_matches_the_full_recompute(
    tiny_model: DiffusionLM, tiny_tokenizer: CodeTokenizer
) -> None:
    prefix = torch.tensor([tiny_tokenizer.encode("class Point:\n    def __init__(self, x, y):\n")])
    cached, passes = greedy_decode(tiny_model, prefix, 12)
    assert cached == greedy_decode_uncached(tiny_model, prefix, 12)
    assert passes == 12


def test_causal_logits_ignore_the_future(tiny_model: DiffusionLM, tiny_tokenizer: CodeTokenizer) -> None:
    ids = torch.tensor([tiny_tokenizer.encode("for i in range(10):\n    print(i)\n")])
    changed = ids.clone()
    changed[0, -1] = (changed[0, -1] + 1) % tiny_tokenizer.vocab_size
    a, b = tiny_model(ids, causal=True), tiny_model(changed, causal=True)
    assert torch.allclose(a[:, :-1], b[:, :-1], atol=1e-5)
    assert not torch.allclose(tiny_model(ids)[:, 0], tiny_model(changed)[:, 0], atol=1e-6)  # bidirectional sees it
