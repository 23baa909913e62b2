"""Token-boundary healing (model/boundary.py, model/windows.py): the tokens the model sees at a
gap's edges are the whole file's.

A Qwen2-style tokenizer (the real pre-tokenizer regex, read from transformers' Qwen2 tokenizer;
a byte-level BPE trained here on standard-library Python) and our own shipped tokenizer cut real
code at line starts, after indentation, mid-word and mid-line. For each cut the window the engine
builds, with the whole file's gap tokens written into its gap, must be the whole file's tokens,
and the gap's first token must be one the sampler is allowed to choose there.
"""

from __future__ import annotations

import random
import re
import sysconfig
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from model.boundary import LeadMasks, lead_start, strip_edges, token_bytes, trail_end
from model.checkpoint import DEFAULT_CHECKPOINT
from model.engine import load_engine
from model.sampler import infill
from model.tokenizer import CodeTokenizer, SpecialIds
from model.windows import WindowMaker
from model.wire.protocol import Candidate, FillRequest
from model.wire.sampling import base

STDLIB = Path(sysconfig.get_paths()["stdlib"])
TRAIN = ("argparse.py", "dataclasses.py", "typing.py", "inspect.py")  # the BPE's corpus
CUT = ("json/decoder.py", "calendar.py", "difflib.py")  # the code cut up: not in that corpus
QWEN2_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|beginoftext|>", "<|mask|>")


@pytest.fixture(scope="module")
def qwen2_style() -> CodeTokenizer:
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=2000,
        special_tokens=list(QWEN2_SPECIALS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([(STDLIB / name).read_text() for name in TRAIN], trainer=trainer)
    eos, bos, mask = (tok.token_to_id(t) for t in ("<|endoftext|>", "<|beginoftext|>", "<|mask|>"))
    drop = frozenset(tok.token_to_id(t) for t in QWEN2_SPECIALS)
    return CodeTokenizer(tok, SpecialIds(mask, None, eos, eos, bos=bos, filler=eos, start=bos, drop=drop))


@pytest.fixture(scope="module")
def ours() -> CodeTokenizer:
    return load_engine(DEFAULT_CHECKPOINT, threads=1).tok  # type: ignore[attr-defined]


def _pieces(tok: CodeTokenizer, text: str) -> list[str]:
    return [p for p, _ in tok.tok.pre_tokenizer.pre_tokenize_str(text)]


def test_the_lead_is_what_the_next_word_or_blank_line_would_join(qwen2_style: CodeTokenizer) -> None:
    tok = qwen2_style.tok
    lead = {text: text[lead_start(tok, text) :] for text in ("    ", "x = ret", "foo.", "f(", "):\n", "x\n\n", "a + b")}
    assert _pieces(qwen2_style, "    return") == ["ĠĠĠ", "Ġreturn"]  # the case: four spaces split 3 + 1
    assert lead == {
        "    ": " ",
        "x = ret": " ret",
        "foo.": ".",
        "f(": "(",
        "):\n": "):\n",
        "x\n\n": "\n\n",
        "a + b": " b",
    }
    assert trail_end(tok, "\n    return x") == 1  # ')' + '\n' is one piece of the whole file
    assert trail_end(tok, "urn x") == 0 and trail_end(tok, " + 1") == 0  # words and operators stay in the suffix


def test_our_tokenizer_needs_no_healing_where_our_gaps_were_cut_in_training(ours: CodeTokenizer) -> None:
    """Newlines and leading indentation are pieces of their own: at a line start and after
    indentation the lead and the trail are empty, so nothing is constrained and nothing moves."""
    for text in ("def f(x):\n", "def f(x):\n    ", "class A:\n\tdef g(self):\n\t\t", "x = 1\n\n"):
        assert lead_start(ours.tok, text) == len(text)
    for after in ("    return x\n", "\n", "\n\n    y = 2\n", "return x\n"):
        assert trail_end(ours.tok, after) == 0


def _cuts(text: str, rng: random.Random, n: int) -> dict[str, list[int]]:
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    words = [m.start() + k for m in re.finditer(r"[A-Za-z_]{3,}", text) for k in range(1, len(m.group()))]
    out: dict[str, list[int]] = {"line start": [], "after indentation": [], "mid-word": [], "mid-line": []}
    for _ in range(n):
        a = rng.choice(starts[:-3])
        line = text[a : text.index("\n", a)]
        out["line start"].append(a)
        out["after indentation"].append(a + len(line) - len(line.lstrip(" \t")))
        out["mid-line"].append(a + rng.randrange(max(1, len(line))))
        out["mid-word"].append(rng.choice(words))
    return out


def _gap_end(text: str, i: int, rng: random.Random) -> tuple[str, int]:
    eol = text.index("\n", i + 1) if "\n" in text[i + 1 :] else len(text)
    kind = rng.choice(["line end", "line end", "next line start", "mid-line"])
    return kind, {"line end": eol, "next line start": min(len(text), eol + 1)}.get(kind, i + 1 + rng.randrange(40))


def _sees_the_whole_file(maker: WindowMaker, text: str, whole: list[int], i: int, j: int) -> tuple[bool, bool]:
    """(prefix edge, suffix edge): the window for the cut, its gap holding the whole file's tokens
    between what it kept of the prefix and the suffix, is the whole file; the first gap token is allowed."""
    sp = maker.tok.specials
    req = FillRequest(id=1, prefix=text[:i], suffix=text[j:], budgets=[1])
    win = maker.fill(req, limit=10**6)
    (span,) = win.layouts[0].spans
    before, after = win.layouts[0].ids[1 : span.start], win.layouts[0].ids[span.start + span.length : -1]
    assert win.layouts[0].ids[0] == sp.start and win.layouts[0].ids[-1] == sp.eos
    left = whole[: len(before)] == before and len(whole) > len(before)
    if left and win.edges[0].lead:
        (row, col, allowed), *_ = win.allowed
        left = (row, col) == (0, span.start) and bool(allowed[whole[len(before)]])
    right = not after or whole[len(whole) - len(after) :] == after
    # the gap's text between the two: lead + the cut-out text + trail, so the candidate comes back whole
    middle = whole[len(before) : len(whole) - len(after)]
    assert maker.tok.decode(middle) == win.edges[0].lead + text[i:j] + win.edges[0].trail or not (left and right)
    return left, right


def _rates(maker: WindowMaker) -> tuple[dict[str, float], dict[str, float]]:
    """Of the cuts of each kind, the share whose prefix edge (by where the gap starts) and suffix
    edge (by where it ends) the model sees as in the whole file."""
    rng = random.Random(0)
    pre, suf, n_pre, n_suf = Counter[str](), Counter[str](), Counter[str](), Counter[str]()
    for name in CUT:
        text = (STDLIB / name).read_text()[:12000]
        whole = maker.tok.encode(text)
        for kind, points in _cuts(text, rng, 60).items():
            for i in points:
                end_kind, j = _gap_end(text, i, rng)
                left, right = _sees_the_whole_file(maker, text, whole, i, j)
                pre[kind] += left
                n_pre[kind] += 1
                suf[end_kind] += right
                n_suf[end_kind] += 1
    return {k: pre[k] / n_pre[k] for k in n_pre}, {k: suf[k] / n_suf[k] for k in n_suf}


def _before_and_after(
    tok: CodeTokenizer, monkeypatch: pytest.MonkeyPatch
) -> tuple[tuple[dict, dict], tuple[dict, dict]]:
    healed = _rates(WindowMaker(tok, tok.vocab_size, "cpu"))
    with monkeypatch.context() as m:  # the layout before healing: the texts encoded apart, nothing moved
        m.setattr("model.windows.trail_end", lambda _tok, _text: 0)
        plain = WindowMaker(tok, tok.vocab_size, "cpu")
        m.setattr(plain.masks, "heal", lambda text: (text, ""))
        return healed, _rates(plain)


@pytest.mark.slow  # hundreds of cuts of real code: about 15 s each
def test_the_gap_edges_are_the_whole_files_tokens_with_a_qwen2_tokenizer(
    qwen2_style: CodeTokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    (pre, suf), (pre0, suf0) = _before_and_after(qwen2_style, monkeypatch)
    print("qwen2-style prefix edge, healed", pre, "before", pre0)
    print("qwen2-style suffix edge, healed", suf, "before", suf0)
    # After indentation the split text saw 'ĠĠĠĠ' + 'return' almost every time; healed, the cuts an
    # editor makes are right but where this small vocabulary splits a punctuation-and-newline piece.
    assert pre0["after indentation"] < 0.2 and pre["after indentation"] >= 0.95
    assert pre["line start"] >= 0.95 and pre["mid-word"] >= 0.7 and pre["mid-line"] >= 0.65
    assert all(pre[k] > pre0[k] for k in pre if k != "line start") and pre["line start"] >= pre0["line start"]
    # A line's closing punctuation takes the newline the suffix starts with: half wrong before.
    assert suf0["line end"] < 0.6 and suf["line end"] >= 0.95
    assert suf["next line start"] >= 0.95


@pytest.mark.slow  # hundreds of cuts of real code: about 15 s each
def test_the_gap_edges_are_the_whole_files_tokens_with_our_tokenizer(
    ours: CodeTokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    (pre, suf), (pre0, suf0) = _before_and_after(ours, monkeypatch)
    print("ours prefix edge, healed", pre, "before", pre0)
    print("ours suffix edge, healed", suf, "before", suf0)
    assert pre["line start"] == pre0["line start"] == 1.0 and pre["after indentation"] == 1.0
    assert suf["line end"] == suf0["line end"] == 1.0 and suf["next line start"] == 1.0
    assert pre0["mid-word"] < 0.3 and pre["mid-word"] >= 0.85  # a partial word heals for ours too
    assert pre["mid-line"] > pre0["mid-line"]


def test_lead_masks_mark_the_tokens_starting_with_the_lead_bytes(qwen2_style: CodeTokenizer) -> None:
    tok = qwen2_style.tok
    table = token_bytes(tok)
    assert table[tok.token_to_id("Ġreturn")] == b" return" and table[tok.token_to_id("Ċ")] == b"\n"
    assert table[qwen2_style.specials.eos] is None  # special tokens are never text
    masks = LeadMasks(tok, tok.get_vocab_size() + 7, "cpu")  # a model's vocabulary padded past the tokenizer's
    mask = masks(" ret")
    hits = {tid for tid in range(len(table)) if table[tid] is not None and table[tid].startswith(b" ret")}
    assert set(mask.nonzero().flatten().tolist()) == hits and tok.token_to_id("Ġreturn") in hits
    assert mask.shape == (tok.get_vocab_size() + 7,) and not mask[-7:].any()
    assert masks(" ret") is mask  # kept
    assert masks("é").any() or not any(b and b.startswith("é".encode()) for b in table)


def test_a_lead_no_token_starts_gives_its_first_characters_back_to_the_prefix(qwen2_style: CodeTokenizer) -> None:
    masks = LeadMasks(qwen2_style.tok, qwen2_style.vocab_size, "cpu")
    kept, lead = masks.heal("x = zqxjvw")
    assert kept + lead == "x = zqxjvw" and lead and bool(masks(lead).any())
    assert masks.heal("") == ("", "")


def test_edges_are_stripped_from_a_candidate() -> None:
    c = Candidate(
        text=" return x\n", budget=4, mean_confidence=0.5, tokens=[" return", " x", "\n"], confidences=[1, 1, 1]
    )
    out = strip_edges(c, " ", "\n")
    assert (out.text, out.tokens, out.confidences) == ("return x", ["return", " x"], [1, 1])
    whole = Candidate(text=" ", budget=4, mean_confidence=0.5, tokens=[" "], confidences=[0.9])
    assert (strip_edges(whole, " ", "").text, strip_edges(whole, " ", "").tokens) == ("", [])
    assert strip_edges(c, "x", "y") == c  # a candidate without them is left as it is


class _Prefers:
    """A stand-in model: every masked position's logits favour `token`."""

    def __init__(self, vocab: int, token: int) -> None:
        self.config = SimpleNamespace(shift_logits=False)
        self.vocab, self.token = vocab, token

    def token_logits(self, ids: torch.Tensor, key_padding=None, cache=None, cols=None) -> torch.Tensor:
        logits = torch.zeros(ids.shape[0], len(cols), self.vocab, device=ids.device)
        logits[..., self.token] = 10.0
        return logits

    def new_cache(self) -> list:
        return []


def test_the_sampler_chooses_only_allowed_tokens_there_through_refinement(qwen2_style: CodeTokenizer) -> None:
    tok, sp = qwen2_style, qwen2_style.specials
    favourite = tok.tok.token_to_id("Ġif")
    ids = torch.tensor([tok.encode("def f():\n   ") + [0, 0, 0]])
    gap = torch.zeros(ids.shape, dtype=torch.bool)
    gap[0, -3:] = True
    allowed = LeadMasks(tok.tok, tok.vocab_size, "cpu")("ret")
    model = _Prefers(tok.vocab_size, favourite)
    out = infill(model, ids, gap, base(steps=3, refine_rounds=2, tau=1.1), sp, allowed=[(0, ids.shape[1] - 3, allowed)])
    first, rest = out.ids[0, -3], out.ids[0, -2:]
    assert bool(allowed[first]) and tok.decode([int(first)]).startswith("ret")
    assert rest.tolist() == [favourite, favourite]  # the other positions are free


def test_the_engine_heals_a_fill_and_strips_the_lead_back(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = load_engine(DEFAULT_CHECKPOINT, threads=1)
    tok, sp = engine.tok, engine.tok.specials  # type: ignore[attr-defined]
    written: list[list[int]] = []
    real = infill

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        sample = real(*args, **kwargs)
        written.extend(sample.ids.tolist())
        return sample

    monkeypatch.setattr("model.masked_engine.infill", spy)
    req = FillRequest(id=1, prefix="def total(items):\n    res", suffix="\n", budgets=[6])
    win = engine.windows.fill(req, engine.limit)  # type: ignore[attr-defined]
    assert win.edges[0].lead == "res" and [(r, c) for r, c, _ in win.allowed] == [(0, win.layouts[0].spans[0].start)]
    (cand,) = engine.fill(req).candidates
    (span,) = win.layouts[0].spans
    gap = written[0][span.start : span.start + span.length]
    content = gap[: gap.index(sp.filler)] if sp.filler in gap else gap
    assert tok.decode([gap[0]]).startswith("res")  # the one position held to the lead
    assert tok.decode([t for t in content if t not in sp.drop]) == "res" + cand.text  # and the lead stripped back


def test_every_window_of_a_joint_fill_holds_the_document_whole(qwen2_style: CodeTokenizer) -> None:
    """Each hole takes its lead and trail from the text around it; in windows where another hole is
    context, that hole's text keeps them, so no window loses a character of the document."""
    tok, sp = qwen2_style, qwen2_style.specials
    holes = ["return x", "pass", "y = 2"]
    between = ["\n\ndef b(y):\n    ", "\n" + "# filler line\n" * 14 + "def c():\n    "]
    req = FillRequest(id=1, prefix="def a(x):\n    ", suffix="\n", budgets=[4], holes=holes, between=between)
    doc = req.prefix + holes[0] + between[0] + holes[1] + between[1] + holes[2] + req.suffix
    maker = WindowMaker(tok, tok.vocab_size, "cpu")
    win = maker.fill(req, limit=128)
    assert [e.lead for e in win.edges] == [" ", " ", " "] and [e.trail for e in win.edges] == ["\n\n", "\n", "\n"]
    assert len(win.layouts) == 2 and len(win.allowed) == 3  # holes 0 and 1 share a window; each is held to its lead
    for lay in win.layouts:
        text, at = "", 0
        for span in lay.spans:
            e = win.edges[span.hole]
            text += tok.decode(lay.ids[at : span.start]) + e.lead + holes[span.hole] + e.trail
            at = span.start + span.length
        text += tok.decode(lay.ids[at:])
        assert lay.ids[0] == sp.start and lay.ids[-1] == sp.eos  # each window here holds the whole file
        assert text.replace("<|beginoftext|>", "").replace("<|endoftext|>", "") == doc
