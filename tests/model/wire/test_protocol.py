from __future__ import annotations

import io
import re

import msgpack
import pytest

from model.wire.protocol import (
    VERSION,
    Candidate,
    ErrorReply,
    FillRequest,
    FillResult,
    InvalidRequest,
    Progress,
    ProtocolError,
    SamplerSettings,
    VersionMismatch,
    decode_body,
    encode_frame,
    from_wire,
    read_frame,
)


def test_fill_request_round_trip() -> None:
    req = FillRequest(id=3, prefix="def f():\n    ", suffix="\n", budgets=[16, 32], sampler=SamplerSettings(steps=5))
    back = from_wire(read_frame(io.BytesIO(encode_frame(req))))
    assert back == req


def test_result_round_trip() -> None:
    res = FillResult(
        id=1,
        candidates=[Candidate("return 1", 16, 0.5, ["return", " 1"], [0.4, 0.6])],
        elapsed_ms=1.0,
        forward_passes=4,
    )
    assert from_wire(read_frame(io.BytesIO(encode_frame(res)))) == res


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "fill", "v": 99, "id": 1},
        {"type": "launch_missiles", "v": VERSION},
        {"type": "fill", "v": VERSION, "id": 1, "prefix": 3, "suffix": "", "budgets": [8], "sampler": {}},
        {"type": "fill", "v": VERSION, "id": 1, "prefix": "", "suffix": "", "budgets": [0], "sampler": {}},
        {"type": "fill", "v": VERSION, "id": 1, "prefix": "", "suffix": "", "budgets": [8], "sampler": {"nope": 1}},
        [1, 2, 3],
    ],
)
def test_bad_messages_are_refused(bad: object) -> None:
    with pytest.raises(ProtocolError):
        from_wire(bad)


def test_garbage_and_truncated_frames() -> None:
    with pytest.raises(ProtocolError):
        decode_body(b"\xc1\xc1")
    with pytest.raises(ProtocolError):
        read_frame(io.BytesIO(b"\x00\x00\x00\x10abc"))


def _fill(**fields: object) -> dict:
    return {"type": "fill", "v": VERSION, "id": 1, "prefix": "x = ", "suffix": "\n", "budgets": [8], **fields}


def test_unset_settings_stay_off_the_wire_and_come_back_unset() -> None:
    req = FillRequest(
        id=4, prefix="a", suffix="b", sampler=SamplerSettings(tau=0.5, dual_cache=False), profile="typing"
    )
    raw = decode_body(encode_frame(req)[4:])
    assert raw["sampler"] == {"tau": 0.5, "dual_cache": False}  # False is set, not unset
    back = from_wire(raw)
    assert back == req and back.sampler.steps is None and back.sampler.options == {}
    assert from_wire(_fill()).sampler == SamplerSettings()  # no sampler map at all: everything unset
    assert from_wire(_fill(sampler={"steps": None, "tau": 1})).sampler == SamplerSettings(tau=1)  # null is unset


def test_sampler_options_round_trip() -> None:
    req = FillRequest(id=5, prefix="", suffix="", sampler=SamplerSettings(options={"canvas": 64, "mode": "x"}))
    back = from_wire(read_frame(io.BytesIO(encode_frame(req))))
    assert back.sampler.options == {"canvas": 64, "mode": "x"} and back == req


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"sampler": {"steps": 0}}, "sampler.steps is 0"),
        ({"sampler": {"steps": 2.5}}, "sampler.steps must be int"),
        ({"sampler": {"dual_cache": 1}}, "sampler.dual_cache must be bool"),
        ({"sampler": {"top_p": 0}}, "top_p in (0, 1]"),
        ({"sampler": {"order": "sideways"}}, "order must be one of"),
        ({"sampler": {"options": [1]}}, "options must be a map"),
        ({"profile": "fast"}, "profile must be one of full, typing"),
    ],
)
def test_set_fields_are_checked_and_named(fields: dict, says: str) -> None:
    with pytest.raises(InvalidRequest, match=re.escape(says)):
        from_wire(_fill(**fields))


def test_a_frame_of_another_version_is_refused_saying_both_versions() -> None:
    with pytest.raises(VersionMismatch) as caught:
        from_wire({"type": "ready", "v": 1, "model": "m"})
    assert f"version 1, this one speaks {VERSION}" in str(caught.value)
    # What an old worker says when it refuses our hello reaches the user too.
    old = msgpack.unpackb(
        msgpack.packb({"v": 1, "type": "error", "id": None, "message": "protocol version 2 is not 1"})
    )
    with pytest.raises(VersionMismatch, match="it said: protocol version 2 is not 1"):
        from_wire(old)
    with pytest.raises(VersionMismatch, match="version None"):
        from_wire({"type": "fill"})


def test_progress_round_trip() -> None:
    p = Progress(stage="load", done=3, total=10, message="model-00001-of-00002.safetensors")
    assert from_wire(read_frame(io.BytesIO(encode_frame(p)))) == p
    assert isinstance(from_wire({"type": "error", "v": VERSION, "id": None, "message": "x"}), ErrorReply)


def test_block_diffusion_settings_travel_only_when_set_and_old_requests_still_decode() -> None:
    req = FillRequest(id=6, prefix="a", suffix="b", sampler=SamplerSettings(entropy_bound=0.2, infill="inpainting"))
    raw = decode_body(encode_frame(req)[4:])
    assert raw["sampler"] == {"entropy_bound": 0.2, "infill": "inpainting"} and raw["v"] == VERSION
    assert from_wire(raw) == req
    # A fill as a sender before these fields wrote it (same version: the fields are additive).
    before = msgpack.packb({**_fill(sampler={"steps": 8, "tau": 0.3, "dual_cache": True}), "profile": "typing"})
    old = from_wire(decode_body(before))
    assert old.sampler == SamplerSettings(steps=8, tau=0.3, dual_cache=True)
    assert old.sampler.max_denoising_steps is None and old.sampler.infill is None


@pytest.mark.parametrize(
    ("sampler", "says"),
    [
        ({"entropy_bound": 0}, "sampler.entropy_bound is 0"),
        ({"t_max": 0.2, "t_min": 0.4}, "must be above sampler.t_min"),
        ({"infill": "fim"}, "infill must be one of instruction, inpainting"),
        ({"max_denoising_steps": 2.5}, "sampler.max_denoising_steps must be int"),
    ],
)
def test_bad_block_diffusion_settings_are_answered_not_dropped(sampler: dict, says: str) -> None:
    with pytest.raises(InvalidRequest, match=re.escape(says)):
        from_wire(_fill(sampler=sampler))
