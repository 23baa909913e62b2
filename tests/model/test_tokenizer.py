"""Special ids: where each role is declared, in what precedence, and what each family does with them.

Vocabularies are synthetic; the token strings and the files that declare them are the ones the
hub families use (Open-dCoder's `<M>` only in tokenizer_config.json, Qwen/Llama-3 list eos ids,
DiffuCoder-Instruct's `<|dlm_pad|>`, DreamOn's `<|expand|>`/`<|delete|>`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

from model.checkpoint import DEFAULT_CHECKPOINT, read_config
from model.families import FAMILIES, family_of, our_config
from model.special_tokens import Declarations, SpecialIds, SpecialTokenError, special_ids
from model.tokenizer import CodeTokenizer, load_tokenizer
from tests.model.hub import folders
from tests.model.test_hub_tokenizer import write_slow_folder

QWEN_ADDED = [  # (text, special) as Qwen2.5's tokenizer_config.json flags them
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<tool_call>", False),
    ("<|fim_middle|>", False),
]


def _tokenizer(added: list[tuple[str, bool]]) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(["def f(x):\n    return x + 1\n"] * 20, trainer=trainer)
    for text, special in added:
        (tok.add_special_tokens if special else tok.add_tokens)([AddedToken(text, special=special, normalized=False)])
    return tok


def _folder(tmp_path: Path, added: list[tuple[str, bool]], **files: dict) -> Path:
    """A tokenizer.json folder; `files` maps a JSON file's stem (tokenizer_config, ...) to its content."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    _tokenizer(added).save(str(tmp_path / "tokenizer.json"))
    for stem, content in files.items():
        (tmp_path / f"{stem}.json").write_text(json.dumps(content))
    return tmp_path


def _ids(folder: Path, config: dict, family: str = "qwen2") -> SpecialIds:
    return load_tokenizer(folder, config, FAMILIES[family]).specials


def test_our_checkpoint_keeps_its_rules() -> None:
    config = read_config(DEFAULT_CHECKPOINT)
    tok = load_tokenizer(DEFAULT_CHECKPOINT, config, FAMILIES["fillgap"])
    sp = tok.specials
    ids = {config[f"{r}_token_id"] for r in ("mask", "null", "eos", "pad")}
    assert (sp.mask, sp.null, sp.eos, sp.pad) == tuple(config[f"{r}_token_id"] for r in ("mask", "null", "eos", "pad"))
    assert sp.filler == sp.null and sp.start == sp.eos and sp.bos is None
    assert sp.never == (sp.mask,) and sp.drop == ids and sp.ends == (sp.eos,)
    assert CodeTokenizer.from_file(DEFAULT_CHECKPOINT / "tokenizer.json", config).specials == sp


def test_a_bare_special_ids_keeps_the_old_rules() -> None:
    sp = SpecialIds(mask=0, null=4, eos=None, pad=7)
    assert sp.filler == 4 and sp.never == (0,) and sp.drop == {0, 4, 7} and sp.ends == () and sp.start is None


@pytest.mark.parametrize("where", ["tokenizer_config", "special_tokens_map"])
def test_open_dcoder_mask_declared_only_in_the_tokenizer_files(tmp_path: Path, where: str) -> None:
    added = [*QWEN_ADDED, ("<M>", True)]
    declared = {"mask_token": {"content": "<M>", "lstrip": False, "normalized": False, "special": True}}
    folder = _folder(tmp_path, added, **{where: {"eos_token": "<|endoftext|>", **declared}})
    tok = load_tokenizer(folder, {"model_type": "qwen2", "eos_token_id": None}, FAMILIES["qwen2"])
    sp = tok.specials
    assert sp.mask == tok.tok.token_to_id("<M>")
    assert sp.never[0] == sp.mask and sp.mask in sp.drop
    assert sp.eos == sp.filler == tok.tok.token_to_id("<|endoftext|>") and sp.start is None


def test_no_mask_token_is_an_error_naming_where_it_looked(tmp_path: Path) -> None:
    folder = _folder(tmp_path, QWEN_ADDED, tokenizer_config={"eos_token": "<|endoftext|>"})
    with pytest.raises(SpecialTokenError) as err:
        load_tokenizer(folder, {}, FAMILIES["qwen2"])
    for place in (
        "config.json",
        "generation_config.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "<|mask|>",
    ):
        assert place in str(err.value)


def test_a_list_eos_token_id_keeps_every_end_token(tmp_path: Path) -> None:
    added = [*QWEN_ADDED, ("<|mask|>", True), ("<|eot_id|>", True)]
    tok = _tokenizer(added)
    end, im_end, eot = (tok.token_to_id(t) for t in ("<|endoftext|>", "<|im_end|>", "<|eot_id|>"))
    folder = _folder(tmp_path, added, generation_config={"eos_token_id": [end, eot]})
    sp = _ids(folder, {"eos_token_id": [im_end, end]})
    assert sp.eos == im_end and sp.ends == (im_end, end, eot)
    assert {im_end, end, eot} <= sp.drop


@pytest.mark.parametrize(
    "config, tokenizer_config, special_map, want",
    [
        ({"mask_token_id": "A"}, {"mask_token": "B"}, {"mask_token": "C"}, "A"),
        ({}, {"mask_token": "B"}, {"mask_token": "C"}, "B"),
        ({}, {}, {"mask_token": "C"}, "C"),
        ({}, {"mask_token": "<not in the vocabulary>"}, {}, "<|mask|>"),  # then the names we know
        ({}, {}, {}, "<|mask|>"),
    ],
)
def test_role_precedence(tmp_path: Path, config: dict, tokenizer_config: dict, special_map: dict, want: str) -> None:
    added = [*QWEN_ADDED, ("<|mask|>", True), ("<A>", True), ("<B>", True), ("<C>", True)]
    tok = _tokenizer(added)
    config = {k: tok.token_to_id(f"<{v}>") for k, v in config.items()}
    named = {k: f"<{v}>" if len(v) == 1 else v for k, v in tokenizer_config.items()}
    folder = _folder(
        tmp_path, added, tokenizer_config=named, special_tokens_map={k: f"<{v}>" for k, v in special_map.items()}
    )
    assert _ids(folder, config).mask == tok.token_to_id(want if want.startswith("<|") else f"<{want}>")


@pytest.mark.parametrize("bad", [10**6, -1, "3", True])
def test_an_id_outside_the_vocabulary_is_refused_with_its_source(tmp_path: Path, bad: object) -> None:
    folder = _folder(tmp_path, [*QWEN_ADDED, ("<|mask|>", True)], generation_config={"eos_token_id": [1, bad]})
    with pytest.raises(SpecialTokenError, match="generation_config.json: eos_token_id"):
        _ids(folder, {"vocab_size": 400})


@pytest.mark.parametrize(
    "family, extra, filler, start",
    [
        ("dream", [("<|dlm_pad|>", True)], "<|dlm_pad|>", "<|beginoftext|>"),  # DiffuCoder-Instruct / cpGRPO
        ("dream", [], "<|endoftext|>", "<|beginoftext|>"),  # Dream-Base, Dream-Coder
        ("qwen2", [("<|dlm_pad|>", True)], "<|endoftext|>", None),  # Open-dCoder: EOS pads, nothing starts
        ("llada", [], "<|endoftext|>", "<|beginoftext|>"),
        ("fillgap", [("<|null|>", True)], "<|null|>", "<|endoftext|>"),  # ours
    ],
)
def test_each_family_has_its_filler_and_start(
    tmp_path: Path, family: str, extra: list[tuple[str, bool]], filler: str, start: str | None
) -> None:
    added = [*QWEN_ADDED, ("<|beginoftext|>", True), ("<|mask|>", True), *extra]
    folder = _folder(tmp_path, added, tokenizer_config={"bos_token": "<|beginoftext|>", "eos_token": "<|endoftext|>"})
    tok = load_tokenizer(folder, {}, FAMILIES[family])
    assert tok.specials.filler == tok.tok.token_to_id(filler)
    assert tok.specials.start == (None if start is None else tok.tok.token_to_id(start))
    assert tok.specials.filler in tok.specials.drop


def test_dreamon_edit_tokens_are_never_chosen_and_never_shown(tmp_path: Path) -> None:
    added = [*QWEN_ADDED, ("<|mask|>", True), ("<|expand|>", True), ("<|delete|>", True)]
    tok = load_tokenizer(_folder(tmp_path, added), {}, FAMILIES["dream"])
    edits = tuple(tok.tok.token_to_id(t) for t in ("<|expand|>", "<|delete|>"))
    assert tok.specials.never == (tok.specials.mask, *edits) and set(edits) <= tok.specials.drop
    plain = load_tokenizer(_folder(tmp_path, added), {}, FAMILIES["qwen2"]).specials
    assert plain.never == (plain.mask,)


def test_every_special_token_is_dropped_and_only_those(tmp_path: Path) -> None:
    added = [*QWEN_ADDED, ("<|mask|>", True), ("<|dlm_pad|>", False), ("<|eot_id|>", True), ("<custom>", True)]
    folder = _folder(tmp_path, added, special_tokens_map={"additional_special_tokens": [{"content": "<tool_call>"}]})
    tok = load_tokenizer(folder, {}, FAMILIES["dream"])
    texts = {tok.tok.id_to_token(i) for i in tok.specials.drop}
    # flagged special, named special, or a known control token (<|fim_middle|>, <|dlm_pad|> unflagged)
    assert texts == {t for t, _ in added}
    assert tok.tok.token_to_id("def") not in tok.specials.drop


def test_rows_no_token_has_are_never_chosen(tmp_path: Path) -> None:
    tok = _tokenizer([*QWEN_ADDED, ("<|mask|>", True)])
    size = tok.get_vocab_size()
    folder = _folder(tmp_path, [*QWEN_ADDED, ("<|mask|>", True)])
    sp = _ids(folder, {"vocab_size": size + 64})  # hub vocabularies pad the output layer
    assert set(range(size, size + 64)) <= set(sp.never) and not sp.drop & set(range(size, size + 64))


def test_a_dream_style_slow_folder_loads_with_its_specials(tmp_path: Path) -> None:
    ids = write_slow_folder(tmp_path)
    dream = {"model_type": "Dream", "mask_token_id": ids["<|mask|>"], "eos_token_id": ids["<|endoftext|>"]}
    sp = _ids(tmp_path, dream, "dream")
    assert (sp.mask, sp.eos, sp.bos, sp.start) == (
        ids["<|mask|>"],
        ids["<|endoftext|>"],
        ids["<|beginoftext|>"],
        ids["<|beginoftext|>"],
    )
    assert sp.filler == sp.eos and sp.pad == ids["<|endoftext|>"]
    assert sp.drop == set(ids.values())  # the FIM tokens too: unflagged, but control tokens


def test_declarations_of_a_config_alone() -> None:
    tok = _tokenizer([("<|mask|>", True), ("<|endoftext|>", True)])
    sp = special_ids(tok, Declarations.of_config({"mask_token_id": 5}), FAMILIES["fillgap"])
    assert sp.mask == 5 and sp.eos == tok.token_to_id("<|endoftext|>") and sp.filler is None


def test_the_tokenizer_files_name_bos_eos_and_pad_before_config_json(tmp_path: Path) -> None:
    """config.json's bos/eos ids are often the autoregressive base's: DiffuCoder's bos_token_id is
    EOS, Open-dCoder's eos_token_id is Qwen2.5-Instruct's <|im_end|> (tests/model/hub/published.py)."""
    added = [*QWEN_ADDED, ("<|beginoftext|>", True), ("<|mask|>", True)]
    tok = _tokenizer(added)
    end, im_end, begin = (tok.token_to_id(t) for t in ("<|endoftext|>", "<|im_end|>", "<|beginoftext|>"))
    named = {"bos_token": "<|beginoftext|>", "eos_token": "<|endoftext|>", "pad_token": None}
    sp = _ids(_folder(tmp_path, added, tokenizer_config=named), {"bos_token_id": end, "eos_token_id": im_end})
    assert (sp.bos, sp.eos, sp.pad) == (begin, end, None) and sp.ends == (end, im_end)
    # A bos_token_id that is an end id is no start-of-text token; the names we know stand in.
    sp = _ids(_folder(tmp_path / "unnamed", added), {"bos_token_id": end, "eos_token_id": end})
    assert sp.bos == begin


@pytest.mark.parametrize(
    "name", ["Dream-v0-Base-7B", "DiffuCoder-7B-Instruct", "Open-dCoder-0.5B", "LLaDA-8B-Instruct"]
)
def test_published_folders_get_their_published_special_ids(tmp_path: Path, name: str) -> None:
    """The folder each family ships (tokenizer files and special tokens at their published ids)."""
    hub = folders.build(name, tmp_path)
    tok = load_tokenizer(hub.path, our_config(hub.config), family_of(hub.config))
    sp = tok.specials
    for role in ("eos", "mask", "bos"):
        if role in hub.special:
            assert getattr(sp, role) == hub.id_of(role), role
    assert sp.filler == hub.filler
    want_start = {"bos": sp.bos, "none": None}[FAMILIES[family_of(hub.config).name].start]
    assert sp.start == want_start
    assert set(hub.added.values()) <= sp.drop  # every published special token, the unflagged FIM ones too
    assert {tok.decode([i]) for i in sp.drop} <= set(hub.added)  # and nothing else
    rows = our_config(hub.config)["vocab_size"]
    assert all(tok.tok.id_to_token(i) is None for i in sp.never[1:] if i not in hub.added.values())
    assert len(sp.never) >= rows - tok.tok.get_vocab_size(with_added_tokens=True)
