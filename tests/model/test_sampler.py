from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from model.sampler import infill, refine_targets, score_draft
from model.tokenizer import CodeTokenizer
from model.transformer import DiffusionLM
from model.wire.sampling import base


def _batch(tok: CodeTokenizer) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.tensor([tok.encode("def add(a, b):\n    return a + b\nfor i in range(10):\n    print(i)\n")] * 2)
    gap = torch.zeros(ids.shape, dtype=torch.bool)
    gap[0, 5:12] = True
    gap[1, 3:6] = True
    gap[1, 14:20] = True  # two spans in one sequence, filled jointly
    return ids, gap


def test_fills_every_gap_position_and_nothing_else(tiny_model: DiffusionLM, tiny_tokenizer: CodeTokenizer) -> None:
    ids, gap = _batch(tiny_tokenizer)
    mask = tiny_tokenizer.specials.mask
    sp = tiny_tokenizer.specials
    out = infill(tiny_model, ids, gap, base(steps=3, refine_rounds=2, tau=0.9), sp)
    assert not (out.ids == mask).any()
    assert torch.equal(out.ids[~gap], ids[~gap])
    assert (out.confidence[gap] > 0).all()
    assert out.forward_passes >= 3


def test_same_seed_same_output(tiny_model: DiffusionLM, tiny_tokenizer: CodeTokenizer) -> None:
    ids, gap = _batch(tiny_tokenizer)
    s = base(steps=4, temperature=1.0, seed=7)
    sp = tiny_tokenizer.specials
    assert torch.equal(infill(tiny_model, ids, gap, s, sp).ids, infill(tiny_model, ids, gap, s, sp).ids)


def test_refinement_remasks_only_low_confidence_gap_tokens() -> None:
    conf = torch.tensor([[0.9, 0.1, 0.2, 0.95, 0.05, 0.3]])
    gap = torch.tensor([[False, True, True, True, True, True]])
    targets = refine_targets(conf, gap, tau=0.5)
    # three gap tokens are under tau, but at most half of the 5-token gap (2) is re-masked, lowest first
    assert targets.tolist() == [[False, True, False, False, True, False]]


def test_dual_cache_first_step_is_exact_and_later_steps_stay_close(
    tiny_model: DiffusionLM, tiny_tokenizer: CodeTokenizer
) -> None:
    ids, gap = _batch(tiny_tokenizer)
    mask = tiny_tokenizer.specials.mask
    sp = tiny_tokenizer.specials
    one_step = base(steps=1, refine_rounds=0)
    exact = infill(tiny_model, ids, gap, one_step, sp)
    cached = infill(tiny_model, ids, gap, base(steps=1, refine_rounds=0, dual_cache=True), sp)
    assert torch.equal(exact.ids, cached.ids)  # one step: nothing cached is stale yet
    many = infill(tiny_model, ids, gap, base(steps=6, refine_rounds=0, dual_cache=True), sp)
    assert not (many.ids == mask).any() and torch.equal(many.ids[~gap], ids[~gap])


@pytest.mark.parametrize(("refresh", "full_passes"), [(True, 3), (False, 1)])
def test_a_cached_fill_refreshes_its_cache_per_refinement_round_unless_told_not_to(
    tiny_model: DiffusionLM,
    tiny_tokenizer: CodeTokenizer,
    monkeypatch: pytest.MonkeyPatch,
    refresh: bool,
    full_passes: int,
) -> None:
    ids, gap = _batch(tiny_tokenizer)
    sp = tiny_tokenizer.specials
    full = []  # every pass over the whole sequence goes through token_logits; cached ones do not
    plain = tiny_model.token_logits
    monkeypatch.setattr(tiny_model, "token_logits", lambda *a, **k: full.append(1) or plain(*a, **k))
    s = base(steps=4, refine_rounds=2, tau=1.0, dual_cache=True)  # tau 1: every round has targets
    out = infill(tiny_model, ids, gap, replace(s, options={"cache_refresh": refresh}), sp)
    assert len(full) == full_passes and out.forward_passes > full_passes
    assert not (out.ids == sp.mask).any() and torch.equal(out.ids[~gap], ids[~gap])
    with pytest.raises(ValueError, match="cache_refresh must be true or false"):
        infill(tiny_model, ids, gap, replace(s, options={"cache_refresh": "no"}), sp)


def test_nulls_are_committed_after_content() -> None:
    from model.sampler import choose
    from model.tokenizer import SpecialIds

    logits = torch.full((1, 3, 5), -5.0)
    logits[0, 0, 4] = 9.0  # position 0: a very confident null
    logits[0, 1, 1] = 2.0  # position 1: a less confident content token
    logits[0, 2, 2] = 1.0
    _, conf, score = choose(logits, base(), None, SpecialIds(mask=0, null=4, eos=None, pad=None))
    assert conf[0, 0] > conf[0, 1] and score[0, 1] > score[0, 2] > score[0, 0]


def test_draft_scoring_hides_each_token_from_itself(tiny_model: DiffusionLM, tiny_tokenizer: CodeTokenizer) -> None:
    ids, gap = _batch(tiny_tokenizer)
    sp = tiny_tokenizer.specials
    probs = score_draft(tiny_model, ids, gap, sp, passes=ids.shape[1])  # one position masked per pass
    assert torch.equal(probs[~gap], torch.zeros_like(probs[~gap]))
    assert ((probs[gap] > 0) & (probs[gap] <= 1)).all()
    row, col = 0, 7  # by hand: mask just that token and read its probability
    masked = ids.clone()
    masked[row, col] = sp.mask
    logits = tiny_model.token_logits(masked)[row, col].float()
    expected = torch.softmax(logits, -1)[ids[row, col]]
    assert torch.allclose(probs[row, col], expected, atol=1e-5)
