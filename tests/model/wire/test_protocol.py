from __future__ import annotations

import io

import pytest

from model.wire.protocol import (
    Candidate,
    FillRequest,
    FillResult,
    ProtocolError,
    SamplerSettings,
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
        {"type": "launch_missiles", "v": 1},
        {"type": "fill", "v": 1, "id": 1, "prefix": 3, "suffix": "", "budgets": [8], "sampler": {}},
        {"type": "fill", "v": 1, "id": 1, "prefix": "", "suffix": "", "budgets": [0], "sampler": {}},
        {"type": "fill", "v": 1, "id": 1, "prefix": "", "suffix": "", "budgets": [8], "sampler": {"nope": 1}},
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
