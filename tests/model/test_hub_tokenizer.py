"""Slow-tokenizer folders (Dream, Dream-Coder, DiffuCoder: vocab.json + merges.txt + added_tokens.json,
no tokenizer.json) load as the fast tokenizer that tokenizes like Qwen2's own.

The vocabulary is synthetic (a byte-level BPE trained here on code and written out as vocab.json and
merges.txt, since none can be downloaded); the references are transformers' Qwen2Tokenizer loading
the same folder, and a plain-Python byte-level BPE written from the slow tokenizer's algorithm
(GPT-2's byte table, rank-ordered merges, NFC first, added tokens split out first).
"""

from __future__ import annotations

import json
import unicodedata
from functools import cache
from pathlib import Path

import pytest
import regex
import torch
from safetensors.torch import save_file
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

from model import masked_engine
from model.engine import load_engine
from model.hub_tokenizer import QWEN2_SPLIT, TokenizerFilesError, build_tokenizer
from model.masked_engine import MaskedDiffusionEngine
from model.sampler import Sample
from model.transformer import DiffusionLM, ModelConfig
from model.wire.protocol import FillRequest, SamplerSettings

transformers = pytest.importorskip("transformers")

TRAIN = [
    "def add(a, b):\n    return a + b\n",
    "class Point:\n\tdef __init__(self, x, y):\n\t\tself.x = x\r\n\t\tself.y = y\r\n",
    "for i in range(10):\n    print(f'{i:>3}')  # don't, it's\n",
    'const s = "héllo wörld 你好 🚀";\n\n\nlet n = 1234567;\n',
    "if (x >= 10 && y != 0) {\n        return -x;\n    }\n    \n",
    "SELECT * FROM t WHERE name = 'O''Brien';  -- ünïcödé\n",
]
# Dream-style added tokens after the BPE vocabulary: the Qwen2.5 control tokens (the FIM ones not
# special, as Qwen2.5 ships them), Dream's <|beginoftext|> and <|mask|>.
ADDED = [
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|beginoftext|>", True),
    ("<|mask|>", True),
]
TEXTS = [
    "def f(x):\n    return x * 2\n",
    "    \n\t\t  mixed   indentation\t\n\n\n",
    "a\r\nb\r\n\r\n  c",
    "don't I'LL we've THEY'RE it'S",
    "x = 1234567890 + 3.14e-10",
    "naïve café e\u0301 A\u030a Å",  # decomposed accents: NFC composes them before BPE
    "中文字符 and 日本語 and 한국어",
    "emoji 🚀🎉👍🏽 done",
    "trailing spaces   \nand tabs\t\t\n",
    "<|im_start|>user\nfill<|mask|><|mask|>here<|im_end|><|endoftext|>",
    "pre<|fim_prefix|>mid<|fim_suffix|>post",
    "   ",
    "",
    "🀄️ zero\u200bwidth \u00a0nbsp",
]


def _qwen2_trained(texts: list[str], size: int) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(texts * 10, trainer=trainer)
    return tok


def write_slow_folder(folder: Path, added: list[tuple[str, bool]] = ADDED, with_decoder: bool = True) -> dict[str, int]:
    """vocab.json + merges.txt + added_tokens.json + tokenizer_config.json + special_tokens_map.json."""
    folder.mkdir(parents=True, exist_ok=True)
    tok = _qwen2_trained(TRAIN, 600)
    tok.model.save(str(folder))
    base = tok.get_vocab_size()
    ids = {text: base + i for i, (text, _) in enumerate(added)}
    (folder / "added_tokens.json").write_text(json.dumps(ids))
    config: dict = {
        "tokenizer_class": "Qwen2Tokenizer",
        "bos_token": "<|beginoftext|>",
        "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "mask_token": "<|mask|>",
        "model_max_length": 131072,
    }
    if with_decoder:
        config["added_tokens_decoder"] = {
            str(ids[text]): {
                "content": text,
                "lstrip": False,
                "normalized": False,
                "rstrip": False,
                "single_word": False,
                "special": special,
            }
            for text, special in added
        }
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    specials_map = {
        "bos_token": "<|beginoftext|>",
        "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "mask_token": "<|mask|>",
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
    }
    (folder / "special_tokens_map.json").write_text(json.dumps(specials_map))
    return ids


@pytest.fixture(scope="module")
def slow_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dream-style")
    write_slow_folder(folder)
    return folder


@cache
def _byte_table() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character table (bytes that print stand for themselves)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def _bpe(word: str, ranks: dict[tuple[str, str], int]) -> list[str]:
    parts = list(word)
    while len(parts) > 1:
        pairs = [(ranks.get(p, len(ranks)), i) for i, p in enumerate(zip(parts, parts[1:], strict=False))]
        best, _ = min(pairs)
        if best == len(ranks):
            break
        pair = next(p for p in zip(parts, parts[1:], strict=False) if ranks.get(p) == best)
        merged, i = [], 0
        while i < len(parts):
            if i + 1 < len(parts) and (parts[i], parts[i + 1]) == pair:
                merged.append(parts[i] + parts[i + 1])
                i += 2
            else:
                merged.append(parts[i])
                i += 1
        parts = merged
    return parts


def slow_reference(folder: Path, text: str) -> list[int]:
    """Qwen2's slow tokenizer algorithm, independent of the `tokenizers` library."""
    vocab = json.loads((folder / "vocab.json").read_text())
    lines = (folder / "merges.txt").read_text().splitlines()
    ranks = {tuple(line.split(" ")): i for i, line in enumerate(ln for ln in lines if ln and not ln.startswith("#"))}
    added = json.loads((folder / "added_tokens.json").read_text())
    text = unicodedata.normalize("NFC", text)
    split = "(" + "|".join(regex.escape(t) for t in sorted(added, key=len, reverse=True)) + ")"
    out: list[int] = []
    for piece in regex.split(split, text):
        if piece in added:
            out.append(added[piece])
            continue
        for word in regex.findall(QWEN2_SPLIT, piece):
            chars = "".join(_byte_table()[b] for b in word.encode("utf-8"))
            out += [vocab[p] for p in _bpe(chars, ranks)]  # type: ignore[arg-type]
    return out


def test_a_slow_folder_tokenizes_like_qwen2_in_transformers(slow_folder: Path) -> None:
    ours = build_tokenizer(slow_folder)
    theirs = transformers.Qwen2Tokenizer.from_pretrained(str(slow_folder))
    for text in TEXTS:
        got = ours.encode(text, add_special_tokens=False).ids
        assert got == theirs(text, add_special_tokens=False)["input_ids"], text
        assert got == slow_reference(slow_folder, text), text
    merged = sum(len(t) > 1 for t in ours.encode(TEXTS[0]).tokens)
    assert merged >= 3  # the merges apply: a broken merges file would give one token per byte


def test_decoding_gives_back_the_normalised_text(slow_folder: Path) -> None:
    tok = build_tokenizer(slow_folder)
    for text in TEXTS:
        ids = tok.encode(text, add_special_tokens=False).ids
        assert tok.decode(ids, skip_special_tokens=False) == unicodedata.normalize("NFC", text)


def test_added_tokens_keep_their_ids_and_special_flags(slow_folder: Path) -> None:
    tok = build_tokenizer(slow_folder)
    declared = json.loads((slow_folder / "added_tokens.json").read_text())
    assert {t: tok.token_to_id(t) for t in declared} == declared
    flags = {a.content: a.special for a in tok.get_added_tokens_decoder().values()}
    assert flags == dict(ADDED)


def test_without_a_decoder_added_tokens_are_special_when_named(tmp_path: Path) -> None:
    """Older folders carry only added_tokens.json: a token is special when a role or the special
    lists of tokenizer_config.json / special_tokens_map.json name it (transformers' legacy rule)."""
    write_slow_folder(tmp_path, with_decoder=False)
    flags = {a.content: a.special for a in build_tokenizer(tmp_path).get_added_tokens_decoder().values()}
    named = {"<|endoftext|>", "<|beginoftext|>", "<|mask|>", "<|im_start|>", "<|im_end|>"}
    assert flags == {text: text in named for text, _ in ADDED}


def test_a_tokenizer_json_is_used_when_present(slow_folder: Path, tmp_path: Path) -> None:
    folder = tmp_path / "both"
    write_slow_folder(folder)
    other = _qwen2_trained(["zzzz yyyy"], 280)
    other.save(str(folder / "tokenizer.json"))
    assert build_tokenizer(folder).get_vocab() == other.get_vocab()


def test_a_folder_without_tokenizer_files_names_what_it_looked_for(tmp_path: Path) -> None:
    (tmp_path / "vocab.json").write_text("{}")
    with pytest.raises(TokenizerFilesError, match=r"tokenizer\.json.*vocab\.json.*merges\.txt.*missing merges\.txt"):
        build_tokenizer(tmp_path)


def test_a_slow_folder_of_another_tokenizer_class_is_refused(tmp_path: Path) -> None:
    write_slow_folder(tmp_path)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({**config, "tokenizer_class": "GPT2Tokenizer"}))
    with pytest.raises(TokenizerFilesError, match="GPT2Tokenizer.*tokenizer.json"):
        build_tokenizer(tmp_path)


def test_an_added_token_whose_id_contradicts_the_vocabulary_is_refused(tmp_path: Path) -> None:
    write_slow_folder(tmp_path)
    vocab = json.loads((tmp_path / "vocab.json").read_text())
    (tmp_path / "vocab.json").write_text(json.dumps({**vocab, "<|mask|>": 0, "!": len(vocab)}))
    with pytest.raises(TokenizerFilesError, match="<\\|mask\\|>"):
        build_tokenizer(tmp_path)


def test_unreadable_tokenizer_files_are_named(tmp_path: Path) -> None:
    write_slow_folder(tmp_path)
    (tmp_path / "tokenizer_config.json").write_text("{not json")
    with pytest.raises(TokenizerFilesError, match="tokenizer_config.json"):
        build_tokenizer(tmp_path)


def _dream_checkpoint(folder: Path, extra: list[tuple[str, bool]]) -> dict[str, int]:
    """A Dream-style checkpoint: slow tokenizer files, random weights, the output layer padded to a
    multiple of 64 rows as hub vocabularies are, config ids as DiffuCoder's config.json gives them."""
    ids = write_slow_folder(folder, [*ADDED, *extra])
    cfg = ModelConfig(
        vocab_size=-(-(max(ids.values()) + 1) // 64) * 64,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        rope_theta=1e6,
        attention_bias=True,
        tie_word_embeddings=False,
        shift_logits=True,
    )
    torch.manual_seed(0)
    state = DiffusionLM(cfg).state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "model.safetensors"))
    config = {
        "architectures": ["DreamModel"],
        "model_type": "Dream",
        **cfg.to_dict(),
        "hidden_act": "silu",
        "bos_token_id": ids["<|endoftext|>"],  # DiffuCoder's config.json: the EOS id
        "eos_token_id": ids["<|endoftext|>"],
        "pad_token_id": ids["<|endoftext|>"],
        "mask_token_id": ids["<|mask|>"],
        "rope_scaling": None,
        "use_sliding_window": False,
        "sliding_window": None,
        "torch_dtype": "bfloat16",
    }
    (folder / "config.json").write_text(json.dumps(config))
    return ids


def _steer(engine: MaskedDiffusionEngine, plan: list[int], never: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in output head: the real logits plus +30 for plan[k] at the gap's k-th column and
    +60 for each id in `never`, so that unruled those would win everywhere."""
    real = engine.model.token_logits
    first: list[int] = []

    def steered(
        ids: torch.Tensor,
        key_padding: torch.Tensor | None = None,
        cache: object = None,
        cols: torch.Tensor | None = None,
    ) -> torch.Tensor:
        logits = real(ids, key_padding, cache=cache, cols=cols).clone()  # type: ignore[arg-type]
        at = torch.arange(ids.shape[1]) if cols is None else cols
        first[:] = first or [int(at[0])]  # the sampler's first pass asks for the gap's columns
        for j, col in enumerate(at.tolist()):
            if 0 <= col - first[0] < len(plan):
                logits[:, j, plan[col - first[0]]] += 30.0
        logits[..., never] += 60.0
        return logits

    monkeypatch.setattr(engine.model, "token_logits", steered)


@pytest.mark.parametrize(
    "variant, extra, filler",
    [
        ("dreamon", [("<|expand|>", True), ("<|delete|>", True)], "<|endoftext|>"),
        ("diffucoder-instruct", [("<|dlm_pad|>", True)], "<|dlm_pad|>"),
    ],
)
def test_candidates_hold_no_special_token_even_when_the_model_emits_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variant: str, extra: list[tuple[str, bool]], filler: str
) -> None:
    ids = _dream_checkpoint(tmp_path / variant, extra)
    engine = load_engine(tmp_path / variant)
    sp = engine.tok.specials
    assert sp.filler == ids[filler] and sp.start == ids["<|beginoftext|>"]
    code = engine.tok.encode("x = y+1")
    specials = ["<|im_end|>", "<|fim_prefix|>", "<|endoftext|>", filler, "<|im_start|>"]
    plan = [code[0], ids[specials[0]], code[1], ids[specials[1]], code[2], ids[specials[2]], code[3]]
    plan += [ids[specials[3]], code[4], ids[specials[4]]] * 3
    rows = engine.model.config.vocab_size
    never = [ids[t] for t in ("<|mask|>", "<|expand|>", "<|delete|>") if t in ids]
    never += range(max(ids.values()) + 1, rows)  # the output layer's rows no token has
    _steer(engine, plan, never, monkeypatch)
    seen: list[Sample] = []
    real_infill = masked_engine.infill
    monkeypatch.setattr(masked_engine, "infill", lambda *a, **k: seen.append(real_infill(*a, **k)) or seen[-1])
    settings = SamplerSettings(steps=4, refine_rounds=0, threshold=0.0, temperature=0.0, dual_cache=False)
    # A prefix ending in a digit: nothing that follows joins its last piece, so no edge is healed here.
    req = FillRequest(id=1, prefix="y = 1", suffix="\n    return x\n", budgets=[4, 8, 16], sampler=settings)
    res = engine.fill(req)
    (sample,) = seen
    emitted = set(sample.ids.flatten().tolist())
    assert {ids[t] for t in specials} <= emitted  # the model did emit every kind of special token
    assert not emitted & set(never)  # but never one of those it must not choose
    texts = [t for t, _ in [*ADDED, *extra]]
    assert sorted(c.budget for c in res.candidates) == req.budgets
    for cand in res.candidates:
        assert not any(t in cand.text or t in "".join(cand.tokens) for t in texts), cand.text
        content = plan[: cand.budget]
        content = content[: content.index(ids[filler])] if ids[filler] in content else content  # cut at the filler
        assert cand.text == engine.tok.decode([t for t in content if t in code]) != ""
