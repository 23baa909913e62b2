"""Token layouts: joint fills, cross-file context, and the exact window each family's model sees (golden)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from model.checkpoint import DEFAULT_CHECKPOINT
from model.engine import load_engine
from model.families import FAMILIES
from model.layout import CONTEXT_SHARE, Layout, Span, context_lead, fit_window, groups, joint_layouts, with_context
from model.masked_engine import MaskedDiffusionEngine, window_tokens
from model.sampler import infill
from model.wire.options import worker_command
from model.wire.protocol import FillRequest, Progress, Ready, SamplerSettings, from_wire, read_frame

EOS = 1
BOS = 4


def test_neighbouring_holes_share_a_window_and_far_ones_get_their_own() -> None:
    assert groups([[5] * 10, [5] * 10], budget=16, limit=256) == [(0, 2)]
    assert groups([[5] * 10, [5] * 300], budget=16, limit=256) == [(0, 1), (2, 2)]


def test_each_hole_sits_between_its_own_neighbours() -> None:
    prefix, suffix = [10, 11], [90, 91]
    holes, between = [[20], [21], [22]], [[30, 31], [40] * 300]
    layouts = joint_layouts(prefix, holes, between, suffix, budget=4, limit=64, eos=EOS)
    assert [[s.hole for s in lay.spans] for lay in layouts] == [[0, 1], [2]]
    first, second = layouts
    assert all(len(lay.ids) <= 64 for lay in layouts)
    a, b = first.spans
    assert first.ids[: a.start] == [EOS, 10, 11]
    assert first.ids[a.start + 4 : b.start] == [30, 31]  # the text between the two holes
    assert first.ids[b.start + 4 :][:3] == [40, 40, 40]
    (c,) = second.spans
    assert second.ids[c.start - 1] == 40 and second.ids[c.start + 4 :] == [90, 91, EOS]


def test_context_comes_first_as_a_file_of_its_own_within_its_share() -> None:
    layout = Layout([EOS, 7, 0, 0, 8], [Span(2, 2, 0)])
    long = list(range(100, 300))
    lead = context_lead(long, limit=256, eos=EOS)
    n = int(256 * CONTEXT_SHARE) - 1
    placed = with_context(layout, lead)
    assert placed.ids[:n] == long[:n] and placed.ids[n:] == layout.ids  # the window's own EOS ends it
    assert placed.spans == [Span(2 + n, 2, 0)]
    assert with_context(Layout([7, 0, 8], [Span(1, 1, 0)]), context_lead([5], 256, EOS)).ids == [5, EOS, 7, 0, 8]
    # a family whose files start with BOS: the context is a file of its own, BOS ... EOS
    bos = with_context(fit_window([7], [8], 1, 256, EOS, start=BOS), context_lead([5], 256, EOS, start=BOS))
    assert bos.ids == [BOS, 5, EOS, BOS, 7, 0, 8, EOS] and len(context_lead(long, 256, EOS, start=BOS)) == n + 1
    none = with_context(fit_window([7], [8], 1, 256, EOS, start=None), context_lead([5], 256, EOS, start=None))
    assert none.ids == [5, EOS, 7, 0, 8, EOS]


def test_a_window_cut_off_from_its_files_ends_loses_their_markers() -> None:
    w = fit_window(list(range(100, 400)), list(range(500, 600)), budget=8, limit=64, eos=EOS, start=BOS)
    assert BOS not in w.ids and EOS not in w.ids and len(w.ids) == 64
    whole = joint_layouts([10], [[20], [21]], [[30]], [90], budget=2, limit=64, eos=EOS, start=BOS)
    assert whole[0].ids == [BOS, 10, 0, 0, 30, 0, 0, 90, EOS]


def test_the_engine_fills_every_hole_of_a_joint_request_in_one_batch() -> None:
    engine = load_engine(DEFAULT_CHECKPOINT, threads=1)
    holes = ["pass", "pass", "pass"]
    between = ["\n\n\ndef b(x):\n    ", "\n\n\ndef c(x):\n    "]
    req = FillRequest(id=3, prefix="def a(x):\n    ", suffix="\n", budgets=[8, 16], holes=holes, between=between)
    result = engine.fill(req)
    assert sorted({c.hole for c in result.candidates}) == [0, 1, 2]
    assert len(result.candidates) == 6 and {c.budget for c in result.candidates} == {8, 16}
    plain = engine.fill(FillRequest(id=4, prefix="def a(x):\n    ", suffix="\n", budgets=[8]))
    assert result.forward_passes <= 2 * plain.forward_passes + 8  # one denoising run, not one per hole


def test_context_changes_what_the_model_sees() -> None:
    engine = load_engine(DEFAULT_CHECKPOINT, threads=1)
    base = FillRequest(id=5, prefix="def total(rects):\n    return ", suffix="\n", budgets=[8])
    with_ctx = FillRequest(**{**base.__dict__, "id": 6, "context": "# geo.py\ndef area(w, h): ...\n"})
    a, b = engine.fill(base), engine.fill(with_ctx)
    assert a.candidates and b.candidates
    assert (a.candidates[0].text, a.candidates[0].confidences) != (b.candidates[0].text, b.candidates[0].confidences)


def test_joint_requests_round_trip_and_malformed_holes_are_refused() -> None:
    import pytest

    from model.wire.protocol import ProtocolError, to_wire
    from model.wire.protocol import from_wire as parse_wire

    req = FillRequest(id=7, prefix="a", suffix="b", holes=["pass", "pass"], between=["x"], context="# c\n")
    assert parse_wire(to_wire(req)) == req
    for bad in (
        {"holes": ["pass", "pass"], "between": []},
        {"holes": ["pass"], "between": [], "draft": "d"},
        {"holes": [1]},
        {"context": 3},
    ):
        with pytest.raises(ProtocolError):
            parse_wire({**to_wire(FillRequest(id=8, prefix="a", suffix="b")), **bad})


# --- the exact window each family's model sees -----------------------------------------------------

M = "MASK"  # the family's mask token, whatever its text
# prefix "def f():\n    ", suffix "\n", budget 4: what the model is given (the gap masked) and what
# the fill leaves in it when the model writes one content token and pads the rest. Qwen2-style
# vocabularies split "    return" as 'ĠĠĠ' + 'Ġreturn' and "):\n" keeps its newline: the fourth space
# moves into the gap (whose first token must start with it) and the suffix's newline moves to its
# end (model/boundary.py). Ours isolates newlines and indentation: nothing moves.
QWEN_GAP = ["def", "Ġf", "(", "):Ċ", "ĠĠĠ", M, M, M, M]
GOLDEN: dict[str | None, dict[str, object]] = {
    None: {  # our own checkpoint: EOS starts and ends a file, the null token pads
        "seen": ["<|endoftext|>", "def", "Ġf", "():", "Ċ", "ĠĠĠĠ", M, M, M, M, "Ċ", "<|endoftext|>"],
        "context": ["import", "Ġos", "Ċ", "<|endoftext|>", "def"],
        "mask": "<|mask|>",
        "filler": "<|null|>",
        "content": "return",
        "limit": 256,
    },
    "Dream-v0-Base-7B": {  # BOS starts a file, EOS ends and pads
        "seen": ["<|beginoftext|>", *QWEN_GAP, "<|endoftext|>"],
        "context": ["<|beginoftext|>", "import", "Ġos", "Ċ", "<|endoftext|>", "<|beginoftext|>", "def"],
        "mask": "<|mask|>",
        "filler": "<|endoftext|>",
        "content": "Ġreturn",
        "limit": 2048,
    },
    "DiffuCoder-7B-Instruct": {  # as Dream, padded with <|dlm_pad|>
        "seen": ["<|beginoftext|>", *QWEN_GAP, "<|endoftext|>"],
        "context": ["<|beginoftext|>", "import", "Ġos", "Ċ", "<|endoftext|>", "<|beginoftext|>", "def"],
        "mask": "<|mask|>",
        "filler": "<|dlm_pad|>",
        "content": "Ġreturn",
        "limit": 2048,
    },
    "Open-dCoder-0.5B": {  # nothing starts a file, EOS ends and pads
        "seen": [*QWEN_GAP, "<|endoftext|>"],
        "context": ["import", "Ġos", "Ċ", "<|endoftext|>", "def"],
        "mask": "<M>",
        "filler": "<|endoftext|>",
        "content": "Ġreturn",
        "limit": 4096,
    },
    "LLaDA-8B-Instruct": {  # BOS starts a file, EOS ends and pads; its config's max_sequence_length
        "seen": ["<|startoftext|>", *QWEN_GAP, "<|endoftext|>"],
        "context": ["<|startoftext|>", "import", "Ġos", "Ċ", "<|endoftext|>", "<|startoftext|>", "def"],
        "mask": "<|mdm_mask|>",
        "filler": "<|endoftext|>",
        "content": "Ġreturn",
        "limit": 4096,
    },
}


class _Writes:
    """Stands in for the model: records what it is given; its logits favour `content` at the gap's
    first column and the filler after it, whatever the weights would say."""

    def __init__(self, vocab: int, content: int, filler: int, shift: bool) -> None:
        self.config = SimpleNamespace(shift_logits=shift, vocab_size=vocab)
        self.vocab, self.content, self.filler = vocab, content, filler
        self.seen: list[list[int]] = []
        self.first = -1  # the gap's first column

    def token_logits(self, ids: torch.Tensor, key_padding=None, cache=None, cols=None) -> torch.Tensor:
        self.seen.append(ids[0].tolist())
        if len(self.seen) == 1:  # the first pass is asked for every gap column: the first of them starts it
            self.first = int(cols[0])
        logits = torch.zeros(ids.shape[0], len(cols), self.vocab, device=ids.device)
        logits[..., self.filler] = 20.0
        logits[:, cols == self.first, self.content] = 30.0  # later passes are asked only for columns still masked
        return logits

    def new_cache(self) -> list:
        return []


@pytest.fixture(scope="module")
def hub_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hub-layout")


def _engine(name: str | None, root: Path, **kwargs: object) -> MaskedDiffusionEngine:
    from tests.model.hub.folders import build

    folder = DEFAULT_CHECKPOINT if name is None else build(name, root).path
    engine = load_engine(folder, threads=1, **kwargs)  # type: ignore[arg-type]
    assert isinstance(engine, MaskedDiffusionEngine)
    return engine


@pytest.mark.parametrize("name", list(GOLDEN))
def test_each_family_sees_its_own_file_markers_mask_and_filler(
    name: str | None, hub_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = _engine(name, hub_root)
    golden, tok, sp = GOLDEN[name], engine.tok.tok, engine.tok.specials
    assert tok.id_to_token(sp.mask) == golden["mask"] and tok.id_to_token(sp.filler) == golden["filler"]
    assert engine.limit == golden["limit"] == engine.info.context_tokens
    content = tok.token_to_id(str(golden["content"]))
    stub = _Writes(engine.model.config.vocab_size, content, sp.filler, engine.model.config.shift_logits)
    engine.model = stub  # type: ignore[assignment]
    filled: list[list[int]] = []
    real = infill

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        sample = real(*args, **kwargs)
        filled.append(sample.ids[0].tolist())
        return sample

    monkeypatch.setattr("model.masked_engine.infill", spy)
    # Without the cache: the stand-in writes logits for whole sequences only (it has no layers to cache)
    req = FillRequest(
        id=1, prefix="def f():\n    ", suffix="\n", budgets=[4], sampler=SamplerSettings(dual_cache=False)
    )
    (cand,) = engine.fill(req).candidates
    seen = golden["seen"]
    assert [M if i == sp.mask else tok.id_to_token(i) for i in stub.seen[0]] == seen
    gap = seen.index(M)  # type: ignore[union-attr]
    assert filled[0][gap : gap + 4] == [content, sp.filler, sp.filler, sp.filler]
    assert cand.text == "return" and cand.tokens == ["return"]  # the lead stripped back, the filler cut
    stub.seen.clear()
    engine.fill(FillRequest(**{**req.__dict__, "id": 2, "context": "import os\n"}))
    context = golden["context"]
    assert [tok.id_to_token(i) for i in stub.seen[0][: len(context)]] == context  # type: ignore[arg-type]


def test_the_context_length_is_the_familys_unless_asked_for(hub_root: Path) -> None:
    assert _engine("LLaDA-8B-Instruct", hub_root, context_tokens=300).limit == 300
    assert window_tokens({"model_type": "dream", "max_position_embeddings": 131072}, FAMILIES["dream"]) == 2048
    assert window_tokens({"model_type": "llada", "max_sequence_length": 4096}, FAMILIES["llada"]) == 4096
    ours = {"model_type": "fillgap", "max_position_embeddings": 512, "fillgap_training": {"seq_len": 256}}
    assert window_tokens(ours, FAMILIES["fillgap"]) == 256 and window_tokens(ours, FAMILIES["fillgap"], 1024) == 1024


def test_the_worker_fits_fills_to_the_context_its_flag_asks_for() -> None:
    proc = subprocess.Popen(
        worker_command(threads=1, context_tokens=300),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        while isinstance(msg := from_wire(read_frame(proc.stdout)), Progress):
            pass
        assert isinstance(msg, Ready) and msg.context_tokens == 300  # the shipped model's own is 256
        shipped = json.loads((DEFAULT_CHECKPOINT / "config.json").read_text())
        assert msg.typing_gate == shipped["fillgap_gate"]  # the gate calibrated for these weights, told the server
    finally:
        proc.kill()
        proc.wait()
