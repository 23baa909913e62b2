"""Sampler settings resolution: the request's set fields over the family's typing profile (typing
requests only) over the family's sampler defaults over the base."""

from __future__ import annotations

import pytest

from model.families import FAMILIES
from model.wire.sampling import (
    SAMPLER_DEFAULTS,
    SamplerSettings,
    base,
    for_request,
    refuse_unknown_options,
    resolve,
)

FAMILY_SAMPLER = {"threshold": 0.9, "refine_rounds": 1, "steps": 32}
FAMILY_TYPING = {"refine_rounds": 0, "dual_cache": True, "steps": 16}


def test_each_field_comes_from_the_most_specific_layer_that_sets_it() -> None:
    request = SamplerSettings(steps=4)
    typing = for_request(request, "typing", FAMILY_SAMPLER, FAMILY_TYPING)
    assert typing.steps == 4  # the request
    assert typing.refine_rounds == 0 and typing.dual_cache is True  # the typing profile
    assert typing.threshold == 0.9  # the family's sampler
    assert typing.tau == SAMPLER_DEFAULTS["tau"] and typing.order == "confidence"  # the base
    full = for_request(request, "full", FAMILY_SAMPLER, FAMILY_TYPING)
    assert (full.steps, full.refine_rounds, full.dual_cache, full.threshold) == (4, 1, False, 0.9)
    unset = for_request(SamplerSettings(), "full", FAMILY_SAMPLER, FAMILY_TYPING)
    assert unset.steps == 32  # the family, not the base's 8


def test_set_falsy_values_win_over_defaults() -> None:
    s = for_request(
        SamplerSettings(dual_cache=False, refine_rounds=0, threshold=0.0), "typing", FAMILY_SAMPLER, FAMILY_TYPING
    )
    assert (s.dual_cache, s.refine_rounds, s.threshold) == (False, 0, 0.0)


def test_resolved_settings_set_every_field() -> None:
    for profile in ("full", "typing"):
        for family in FAMILIES.values():
            s = for_request(SamplerSettings(), profile, family.sampler, family.typing)
            assert all(getattr(s, name) is not None for name in SAMPLER_DEFAULTS), (family.name, s)
    assert base() == SamplerSettings(**SAMPLER_DEFAULTS)
    assert base(steps=3).steps == 3 and base(steps=3).tau == SAMPLER_DEFAULTS["tau"]


def test_the_shipped_family_keeps_the_old_defaults() -> None:
    """Before settings were optional, the server sent 8 steps, 2 rounds (full) and 8 steps, 0
    rounds, the dual cache (typing) for our own checkpoints; unset settings resolve to the same."""
    fam = FAMILIES["fillgap"]
    full = for_request(SamplerSettings(), "full", fam.sampler, fam.typing)
    typing = for_request(SamplerSettings(), "typing", fam.sampler, fam.typing)
    assert (full.steps, full.refine_rounds, full.tau, full.dual_cache) == (8, 2, 0.35, False)
    assert (typing.steps, typing.refine_rounds, typing.dual_cache) == (8, 0, True)


def test_options_merge_by_name_and_unknown_ones_are_refused() -> None:
    s = resolve(SamplerSettings(options={"a": 1}), {"options": {"a": 0, "b": 2}}, {"options": {"c": 3}})
    assert s.options == {"a": 1, "b": 2, "c": 3}
    refuse_unknown_options(s, ("a", "b", "c"), "block-diffusion")
    with pytest.raises(
        ValueError, match=r"\['a', 'b', 'c'\] are not settings of the masked-diffusion engine \(it takes: none\)"
    ):
        refuse_unknown_options(s, (), "masked-diffusion")


def test_a_family_default_that_names_no_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="stpes"):
        resolve(SamplerSettings(), {"stpes": 4})
