"""Server settings: nothing pinned that the user did not set, bad sampler values refused by name."""

from __future__ import annotations

import pytest

from lsp.fill.settings import Settings, from_options
from model.wire.protocol import SamplerSettings


def test_unset_sampler_settings_stay_unset_and_the_device_is_auto() -> None:
    s = from_options({})
    assert s.sampler == SamplerSettings() and s.device == "auto"
    assert (s.typing.steps, s.typing.refine_rounds, s.typing.dual_cache) == (None, None, None)
    assert s.typing.sampler(s.sampler) == SamplerSettings()  # the family's typing profile decides
    mine = from_options({"sampler": {"tau": 0.5, "steps": 16, "options": {"canvas": 64}}, "typing": {"steps": 4}})
    assert mine.sampler == SamplerSettings(tau=0.5, steps=16, options={"canvas": 64})
    assert mine.typing.sampler(mine.sampler) == SamplerSettings(tau=0.5, steps=4, options={"canvas": 64})


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"sampler": {"steps": 0}}, "sampler: steps 1..1024"),
        ({"sampler": {"order": "sideways"}}, "sampler: order must be one of"),
        ({"typing": {"refine_rounds": 99}}, "typing: steps 1..1024, refine_rounds 0..16"),
        ({"sampler": {"stepz": 4}}, "stepz"),
    ],
)
def test_bad_sampler_settings_are_refused_naming_them(options: dict, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        from_options(options)


def test_settings_made_in_code_are_checked_too() -> None:
    with pytest.raises(ValueError, match="sampler: .*top_p"):
        Settings(sampler=SamplerSettings(top_p=0.0))


def test_block_diffusion_settings_pass_through_and_typing_has_its_own_steps_per_canvas() -> None:
    mine = from_options(
        {"sampler": {"entropy_bound": 0.2, "infill": "inpainting", "max_denoising_steps": 32}, "typing": {}}
    )
    assert mine.sampler == SamplerSettings(entropy_bound=0.2, infill="inpainting", max_denoising_steps=32)
    fast = from_options({"sampler": {"max_denoising_steps": 32}, "typing": {"max_denoising_steps": 12}}).typing
    assert fast.sampler(mine.sampler).max_denoising_steps == 12
    assert mine.typing.sampler(mine.sampler).max_denoising_steps is None  # the family's typing value decides
    with pytest.raises(ValueError, match="sampler: infill must be one of instruction, inpainting"):
        from_options({"sampler": {"infill": "fim"}})
    with pytest.raises(ValueError, match="typing: .*max_denoising_steps is 0"):
        from_options({"typing": {"max_denoising_steps": 0}})
