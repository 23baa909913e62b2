"""DiffusionGemma's instruction mode: the chat prompt built from the folder's template, and the
middle found in the messy answers instruction-tuned models give (fences, prose, echoes, thought
channels, end-of-turn)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from model.gemma_prompt import (
    GEMMA_TURNS,
    MARKER,
    ChatTemplate,
    answer_span,
    clean_answer,
    cut_ids,
    instruction_messages,
    instruction_prompt,
    load_template,
    render,
)
from tests.model.gemma.folders import CHAT_TEMPLATE
from tests.model.gemma.published import SPECIAL_TOKENS

ADD_PREFIX = "def add(a, b):\n    "
ADD_SUFFIX = "\n\n\nprint(add(1, 2))\n"

# (prefix, the true middle, suffix, what a chat model answered)
ANSWERS = {
    "fenced, prose around, indentation repeated": (
        ADD_PREFIX,
        "return a + b",
        ADD_SUFFIX,
        "Here is the missing code:\n\n```python\n    return a + b\n```\n\nThis returns the sum of the two numbers.",
    ),
    "the whole file echoed in a fence": (
        ADD_PREFIX,
        "return a + b",
        ADD_SUFFIX,
        "```python\ndef add(a, b):\n    return a + b\n\n\nprint(add(1, 2))\n```",
    ),
    "a thought channel, then the answer, then end-of-turn and junk": (
        ADD_PREFIX,
        "return a + b",
        ADD_SUFFIX,
        "<|channel>thought\nThe user wants the body.<channel|>return a + b<turn|><|turn>user\nmore",
    ),
    "no fence, a sentence after a blank line": (
        ADD_PREFIX,
        "return a + b",
        ADD_SUFFIX,
        "return a + b\n\nThis adds a and b.",
    ),
    "the partial line repeated without its indentation": (
        "def area(w, h):\n    return ",
        "w * h",
        "\n",
        "return w * h",
    ),
    "an inline code answer": ("    total = ", "sum(xs)", "\n    return total\n", "`sum(xs)`"),
    "a fence cut off by the budget": (ADD_PREFIX, "return a + b", ADD_SUFFIX, "```python\n    return a + b\n    "),
    "lines before a suffix on a line of its own keep their line break": (
        "def f(x):\n",
        "    y = x + 1\n",
        "    return y\n",
        "Sure! Here's the completed function:\n```py\n    y = x + 1\n```",
    ),
    "the suffix's first lines echoed after a multi-line middle": (
        "def mean(xs):\n",
        '    """The mean."""\n    total = sum(xs)',
        "\n    return total / len(xs)\n",
        '```\n    """The mean."""\n    total = sum(xs)\n    return total / len(xs)\n```',
    ),
    "blank lines before the code of a gap that starts a line": (
        ADD_PREFIX,
        "return a + b",
        ADD_SUFFIX,
        "\n\n    return a + b\n",
    ),
    "a line break is kept where the gap follows code on its line": (
        "def f():",
        "\n    return 1",
        "\n",
        "\n    return 1",
    ),
    "a gap inside a docstring keeps its sentence": (
        'def add(a, b):\n    """',
        "Return the sum.",
        '"""\n',
        "Return the sum.",
    ),
    "a sentence ending in a colon before the code": (
        ADD_PREFIX,
        "return a + b",
        ADD_SUFFIX,
        "To complete the function, add:\n\n    return a + b\n\nIt returns the sum.\n",
    ),
    "a one-character suffix is not taken for an echo": ("print(", "len(xs)", ")\n", "len(xs)"),
    "the partial first line of the suffix echoed": (
        "def scale(",
        "xs, k",
        "):\n    return [x * k for x in xs]\n",
        "xs, k):",
    ),
}


@pytest.mark.parametrize("case", list(ANSWERS))
def test_the_middle_is_found_in_a_messy_answer(case: str) -> None:
    prefix, middle, suffix, answer = ANSWERS[case]
    cleaned = clean_answer(answer, prefix, suffix)
    assert prefix + cleaned + suffix == prefix + middle + suffix, (case, cleaned)
    start, end = answer_span(answer, prefix, suffix)
    assert answer[start:end] == cleaned and 0 <= start <= end <= len(answer)  # a slice: tokens map back to it


@pytest.mark.parametrize(
    "answer", ["<|channel>thought\nStill thinking when the canvas ran out", "<turn|>", "Here is the code:", ""]
)
def test_an_answer_with_no_code_cleans_to_nothing(answer: str) -> None:
    assert clean_answer(answer, ADD_PREFIX, ADD_SUFFIX) == ""


def test_ids_are_cut_at_the_first_end_of_turn_eos_or_pad() -> None:
    stops = {SPECIAL_TOKENS["<turn|>"], SPECIAL_TOKENS["<eos>"], SPECIAL_TOKENS["<pad>"]}
    assert cut_ids([7, 8, SPECIAL_TOKENS["<turn|>"], 9, SPECIAL_TOKENS["<eos>"]], stops) == [7, 8]
    assert cut_ids([7, 8, 9], stops) == [7, 8, 9] and cut_ids([SPECIAL_TOKENS["<pad>"], 7], stops) == []


def test_the_user_turn_holds_the_request_the_marker_and_the_code() -> None:
    [turn] = instruction_messages(ADD_PREFIX, ADD_SUFFIX, context="def helper():\n    pass\n")
    assert turn["role"] == "user" and f"{ADD_PREFIX}{MARKER}{ADD_SUFFIX}" in turn["content"]
    assert turn["content"].count(MARKER) == 3  # twice in the request, once in the code
    assert "def helper():" in turn["content"].split(MARKER)[2]  # other files' code, before the file
    # A file that already holds the marker gets another one; code holding ``` gets a longer fence.
    [odd] = instruction_messages("s = '<FILL_ME>'\nt = '```'\n", "\n")
    assert "<FILL_ME_2>" in odd["content"] and "````\ns = '<FILL_ME>'" in odd["content"]


def _folder(tmp_path: Path, **files: object) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        path = tmp_path / name.replace("__", ".")
        path.write_text(body if isinstance(body, str) else json.dumps(body))
    return tmp_path


def test_the_template_comes_from_the_first_file_that_has_one(tmp_path: Path) -> None:
    config = {"bos_token": "<bos>", "eos_token": {"content": "<eos>"}, "chat_template": "config {{ bos_token }}"}
    both = _folder(tmp_path / "a", chat_template__jinja="jinja", tokenizer_config__json=config)
    assert (load_template(both).text, load_template(both).source) == ("jinja", "chat_template.jinja")
    in_config = _folder(tmp_path / "b", tokenizer_config__json=config)
    found = load_template(in_config)
    assert found.source == "tokenizer_config.json" and found.tokens["eos_token"] == "<eos>"
    named = {"chat_template": [{"name": "tool_use", "template": "t"}, {"name": "default", "template": "d"}]}
    assert load_template(_folder(tmp_path / "c", tokenizer_config__json=named)).text == "d"
    own = _folder(tmp_path / "d", chat_template__json={"chat_template": "own file"})
    assert load_template(own).source == "chat_template.json"


def test_a_folder_without_a_template_gets_gemmas_turns_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "e").mkdir(parents=True)
    with caplog.at_level(logging.WARNING, logger="model.gemma_prompt"):
        fallback = load_template(tmp_path / "e", vocab=SPECIAL_TOKENS)
    assert fallback.source == "fallback" and fallback.text == GEMMA_TURNS
    assert len(caplog.records) == 1 and "no chat template" in caplog.records[0].getMessage()
    plain = load_template(tmp_path / "e", vocab={"<bos>", "<eos>"})
    assert "<|turn>" not in render(plain, instruction_messages("x = ", "\n"))


def test_the_prompt_is_the_users_turn_then_the_models_with_thinking_off() -> None:
    template = ChatTemplate(CHAT_TEMPLATE, "chat_template.jinja", {"bos_token": "<bos>"})  # the test folders'
    prompt = instruction_prompt(template, ADD_PREFIX, ADD_SUFFIX)
    [turn] = instruction_messages(ADD_PREFIX, ADD_SUFFIX)
    assert prompt.startswith("<bos><|turn>user\n") and prompt.count("<bos>") == 1
    assert turn["content"] in prompt and prompt.index(turn["content"]) < prompt.index("<turn|>")
    assert prompt.index("<turn|>") < prompt.index("<|turn>model")
    assert prompt.endswith("<|channel>thought\n<channel|>")  # generation prompt on, thinking off
    # Our fallback: Gemma 4's layout (ai.google.dev "Gemma 4 prompt formatting"), the same turn.
    ours = instruction_prompt(ChatTemplate(GEMMA_TURNS, "fallback", {"bos_token": "<bos>"}), ADD_PREFIX, ADD_SUFFIX)
    assert ours == f"<bos><|turn>user\n{turn['content']}<turn|>\n<|turn>model\n<|channel>thought\n<channel|>"


@pytest.mark.slow
def test_the_prompt_tokenizes_to_gemmas_special_tokens(tmp_path: Path) -> None:
    """With the test folders' Gemma-layout tokenizer: one <bos>, the turn markers as single ids."""
    from tokenizers import Tokenizer

    from tests.model.gemma.folders import tokenizer_json

    tok = Tokenizer.from_str(tokenizer_json())
    template = ChatTemplate(CHAT_TEMPLATE, "chat_template.jinja", {"bos_token": "<bos>"})
    ids = tok.encode(instruction_prompt(template, ADD_PREFIX, ADD_SUFFIX), add_special_tokens=False).ids
    s = SPECIAL_TOKENS
    assert ids[:2] == [s["<bos>"], s["<|turn>"]] and ids.count(s["<bos>"]) == 1
    assert ids.count(s["<|turn>"]) == 2 and ids.count(s["<turn|>"]) == 1
    answer_starts = len(ids) - ids[::-1].index(s["<|turn>"])  # the model's turn
    assert ids[-1] == s["<channel|>"] and s["<|channel>"] in ids[answer_starts:]
    assert ADD_PREFIX.strip() in tok.decode(ids)
