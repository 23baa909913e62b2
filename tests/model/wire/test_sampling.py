"""Sampler settings resolution: the request's set fields over the family's typing profile (typing
requests only) over the family's sampler defaults over the base."""

from __future__ import annotations

import re

import pytest

from model.families import FAMILIES
from model.wire.sampling import (
    BLOCK_DEFAULTS,
    BLOCK_FIELDS,
    SAMPLER_DEFAULTS,
    SamplerSettings,
    base,
    check,
    for_request,
    from_generation_config,
    refuse_fields,
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


def test_the_shipped_familys_defaults() -> None:
    """Before settings were optional, the server sent 8 steps, 2 rounds (full) for our own
    checkpoints; unset settings resolve to the same, now with the dual cache (issue 17). Typing:
    4 steps (8 before issue 17), two refinement rounds (none before stage 6, one at stages 6 and 7
    before the blank-line budgets shrank), the dual cache."""
    fam = FAMILIES["fillgap"]
    full = for_request(SamplerSettings(), "full", fam.sampler, fam.typing)
    typing = for_request(SamplerSettings(), "typing", fam.sampler, fam.typing)
    assert (full.steps, full.refine_rounds, full.tau, full.dual_cache) == (8, 2, 0.35, True)
    assert (typing.steps, typing.refine_rounds, typing.dual_cache) == (4, 2, True)


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


# What transformers 5.24 writes for DiffusionGemmaGenerationConfig(...).save_pretrained (the
# checkpoint's generation_config.json): the entropy bound nested under sampler_config.
GENERATION_CONFIG = {
    "bos_token_id": 2,
    "confidence_threshold": 0.01,
    "eos_token_id": [1, 106],
    "max_denoising_steps": 24,
    "pad_token_id": 0,
    "return_dict_in_generate": True,
    "sampler_config": {"_cls_name": "EntropyBoundSamplerConfig", "entropy_bound": 0.2},
    "stability_threshold": 2,
    "t_max": 0.9,
    "t_min": 0.3,
    "transformers_version": "5.24.0",
}


def test_block_settings_come_from_the_request_then_the_checkpoint_then_the_reference() -> None:
    checkpoint = from_generation_config(GENERATION_CONFIG)
    assert set(checkpoint) == set(BLOCK_FIELDS) - {"infill"}  # nothing else of the file becomes a setting
    s = for_request(SamplerSettings(t_min=0.5), "full", {}, {}, checkpoint)
    assert s.t_min == 0.5 and s.t_max == GENERATION_CONFIG["t_max"]  # the request, then the checkpoint
    assert s.entropy_bound == GENERATION_CONFIG["sampler_config"]["entropy_bound"]
    assert s.max_denoising_steps == GENERATION_CONFIG["max_denoising_steps"]
    assert s.infill == BLOCK_DEFAULTS["infill"] == "instruction"  # no file sets it: ours
    check(s)
    # A folder without generation_config.json (or one that leaves a key out): the reference's defaults.
    bare = for_request(SamplerSettings(), "typing", {}, {"max_denoising_steps": 12}, from_generation_config({}))
    assert bare.max_denoising_steps == 12  # the family's typing profile beats the file and the reference
    assert all(getattr(bare, k) == BLOCK_DEFAULTS[k] for k in BLOCK_FIELDS if k != "max_denoising_steps")
    assert (BLOCK_DEFAULTS["entropy_bound"], BLOCK_DEFAULTS["t_max"], BLOCK_DEFAULTS["t_min"]) == (0.1, 0.8, 0.4)


def test_a_generation_config_value_of_the_wrong_kind_is_left_to_the_next_layer() -> None:
    odd = {**GENERATION_CONFIG, "max_denoising_steps": "many", "sampler_config": {"entropy_bound": None}}
    layer = from_generation_config(odd)
    assert "max_denoising_steps" not in layer and "entropy_bound" not in layer and layer["t_min"] == 0.3


def test_the_masked_engine_is_told_which_set_fields_are_block_diffusions() -> None:
    refuse_fields(SamplerSettings(steps=4, tau=0.2), BLOCK_FIELDS, "masked-diffusion")  # its own: fine
    with pytest.raises(ValueError, match=r"sampler\.infill, sampler\.t_max: settings of the block-diffusion engine"):
        refuse_fields(SamplerSettings(t_max=0.5, infill="inpainting"), BLOCK_FIELDS, "masked-diffusion")


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        (SamplerSettings(entropy_bound=0.0), "sampler.entropy_bound is 0.0"),
        (SamplerSettings(confidence_threshold=-1.0), "sampler.confidence_threshold is -1.0"),
        (SamplerSettings(max_denoising_steps=0), "sampler.max_denoising_steps is 0"),
        (SamplerSettings(stability_threshold=65), "sampler.stability_threshold is 65"),
        (SamplerSettings(t_max=0.0), "sampler.t_max is 0.0"),
        (SamplerSettings(t_max=0.3, t_min=0.6), "t_max (0.3) must be above sampler.t_min (0.6)"),
        (SamplerSettings(infill="fim"), "infill must be one of instruction, inpainting"),
        (SamplerSettings(stability_threshold=True), "sampler.stability_threshold must be int"),  # type: ignore[arg-type]
    ],
)
def test_block_settings_out_of_range_are_refused_naming_the_field(settings: SamplerSettings, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        check(settings)
    with pytest.raises(ValueError, match="must be above"):
        check(SamplerSettings(t_max=0.5, t_min=0.5))  # flat: the reference refuses it too
    check(SamplerSettings(t_max=0.5, t_min=0.0, stability_threshold=0, entropy_bound=1))  # an int is a fine float
