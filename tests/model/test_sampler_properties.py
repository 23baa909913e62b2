"""Properties of the sampler that hold for any gap layout and any settings (hypothesis)."""

from __future__ import annotations

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.sampler import infill, revise
from model.tokenizer import CodeTokenizer
from model.transformer import DiffusionLM
from model.wire.protocol import ORDERS, SamplerSettings

LENGTH = 24

sampler_settings = st.builds(
    SamplerSettings,
    steps=st.integers(1, 6),
    refine_rounds=st.integers(0, 3),
    tau=st.floats(0.0, 1.0),
    temperature=st.sampled_from([0.0, 0.7, 1.0]),
    top_p=st.sampled_from([1.0, 0.9]),
    seed=st.integers(0, 2**31 - 1),
    order=st.sampled_from(ORDERS),
    threshold=st.sampled_from([0.0, 0.3, 0.9]),
    block=st.sampled_from([0, 2, 5]),
    dual_cache=st.booleans(),
)
gaps = st.lists(st.lists(st.booleans(), min_size=LENGTH, max_size=LENGTH), min_size=1, max_size=3)


def _ids(tok: CodeTokenizer, rows: int) -> torch.Tensor:
    text = "def add(a, b):\n    return a + b\nfor i in range(10):\n    print(i)\n"
    return torch.tensor([tok.encode(text)[:LENGTH]] * rows)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gap_rows=gaps, s=sampler_settings)
def test_no_mask_survives_and_context_is_untouched(
    tiny_model: DiffusionLM, tiny_tokenizer: CodeTokenizer, gap_rows: list[list[bool]], s: SamplerSettings
) -> None:
    ids = _ids(tiny_tokenizer, len(gap_rows))
    gap = torch.tensor(gap_rows)
    mask = tiny_tokenizer.specials.mask
    sp = tiny_tokenizer.specials
    out = infill(tiny_model, ids, gap, s, sp)
    assert not (out.ids == mask).any()
    assert torch.equal(out.ids[~gap], ids[~gap])
    again = infill(tiny_model, ids, gap, s, sp)
    assert torch.equal(out.ids, again.ids)  # same seed, same output


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gap_rows=gaps, s=sampler_settings)
def test_refinement_only_touches_low_confidence_gap_tokens(
    tiny_model: DiffusionLM, tiny_tokenizer: CodeTokenizer, gap_rows: list[list[bool]], s: SamplerSettings
) -> None:
    ids = _ids(tiny_tokenizer, len(gap_rows))
    gap = torch.tensor(gap_rows)
    sp = tiny_tokenizer.specials
    plain = SamplerSettings(**{**s.__dict__, "refine_rounds": 0})
    before = infill(tiny_model, ids, gap, plain, sp)
    after = infill(tiny_model, ids, gap, SamplerSettings(**{**s.__dict__, "refine_rounds": 1}), sp)
    changed = before.ids != after.ids
    assert not (changed & ~(gap & (before.confidence < s.tau))).any()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(positions=st.lists(st.integers(0, LENGTH - 1), min_size=1, max_size=6, unique=True), s=sampler_settings)
def test_revise_touches_only_the_positions_asked_for(
    tiny_model: DiffusionLM, tiny_tokenizer: CodeTokenizer, positions: list[int], s: SamplerSettings
) -> None:
    ids = _ids(tiny_tokenizer, 1)
    asked = torch.zeros(ids.shape, dtype=torch.bool)
    asked[0, positions] = True
    out = ids.clone()
    revise(tiny_model, out, asked, torch.zeros(ids.shape), s, tiny_tokenizer.specials)
    assert torch.equal(out[~asked], ids[~asked])
    assert not (out == tiny_tokenizer.specials.mask).any()
