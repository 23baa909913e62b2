"""DiffusionGemma's instruction mode: the chat prompt that asks for a gap's middle, and the answer cleaned.

The prefix, a gap marker and the suffix go in one user turn, rendered with the checkpoint's own
chat template (chat_template.jinja, chat_template.json or tokenizer_config.json) and the
generation prompt on; the canvases then hold the model's answer. Answers of instruction-tuned
models come wrapped: code fences, a sentence before or after, the code around the gap repeated,
a thought channel, an end-of-turn. `answer_span` finds the middle in such an answer as one slice,
so the engine keeps exactly the tokens (and confidences) under it.

Only `render` imports transformers (its chat-template renderer, so the template runs exactly as
transformers runs it); everything else is plain text and ids.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MARKER = "<FILL_ME>"  # Code Llama's infilling marker: one an instruction-tuned model has likely seen
ASK = (
    "Fill in the missing code at {marker} in the file below. Reply with only the code that goes in place of "
    "{marker}: no explanation, no code fences, and none of the code before or after it."
)
CONTEXT = "Code from other files that it uses:"
# End of the answer in decoded text, when the tokenizer's decode kept special tokens.
STOP_TEXTS = ("<turn|>", "<eos>", "<end_of_turn>", "<|turn>", "<pad>")
THOUGHT = ("<|channel>", "<channel|>")  # Gemma 4's thinking channel, open and close

# Ours, for a folder without a chat template: Gemma 4's turn layout (google.dev "Gemma 4 prompt
# formatting": <|turn>role ... <turn|>), with the empty thought channel that switches thinking off.
GEMMA_TURNS = (
    "{{ bos_token }}{% for m in messages %}<|turn>{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n"
    "{{ m['content'] }}<turn|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|turn>model\n<|channel>thought\n<channel|>{% endif %}"
)
# For a vocabulary without Gemma's turn tokens: the request, then where the answer starts.
PLAIN = "{{ bos_token }}{% for m in messages %}{{ m['content'] }}\n\n{% endfor %}"
_TOKEN_KEYS = ("bos_token", "eos_token", "pad_token", "unk_token", "eot_token", "sot_token")


@dataclass(frozen=True)
class ChatTemplate:
    """A Jinja chat template, where it came from, and the special-token strings it may name."""

    text: str
    source: str  # the file it was read from, or "fallback"
    tokens: dict[str, str] = field(default_factory=dict)  # bos_token ... as the template sees them


def _template_in(config: dict[str, Any]) -> str | None:
    found = config.get("chat_template")
    if isinstance(found, list):  # named templates: the default one
        named = {t.get("name"): t.get("template") for t in found if isinstance(t, dict)}
        found = named.get("default")
    return found if isinstance(found, str) and found.strip() else None


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError) as exc:
        log.warning("%s is not readable JSON (%s): left out", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def _token_strings(config: dict[str, Any]) -> dict[str, str]:
    out = {"bos_token": "<bos>"}
    for key in _TOKEN_KEYS:
        value = config.get(key)
        if isinstance(value, dict):  # an AddedToken written out
            value = value.get("content")
        if isinstance(value, str):
            out[key] = value
    return out


def load_template(folder: Path, vocab: Collection[str] | None = None, warn: bool = True) -> ChatTemplate:
    """The folder's chat template: chat_template.jinja, else chat_template.json, else
    tokenizer_config.json's; without one, ours (Gemma 4's turns, or a plain layout when `vocab`
    is given and has no "<|turn>"), with one warning (none with `warn` off: the loader's said it)."""
    config = _json(folder / "tokenizer_config.json")
    tokens = _token_strings(config)
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return ChatTemplate(jinja.read_text(encoding="utf-8"), jinja.name, tokens)
    for name, data in (("chat_template.json", _json(folder / "chat_template.json")), ("tokenizer_config.json", config)):
        text = _template_in(data)
        if text is not None:
            return ChatTemplate(text, name, tokens)
    plain = vocab is not None and "<|turn>" not in vocab
    (log.warning if warn else log.debug)(
        "%s has no chat template (chat_template.jinja, chat_template.json or tokenizer_config.json): "
        "instruction prompts use %s",
        folder,
        "a plain layout (its vocabulary has no <|turn>)" if plain else "Gemma 4's turn layout",
    )
    return ChatTemplate(PLAIN if plain else GEMMA_TURNS, "fallback", tokens)


def render(template: ChatTemplate, messages: list[dict[str, str]], generation_prompt: bool = True) -> str:
    """The template rendered as transformers renders it (sandboxed Jinja, its filters), thinking off."""
    from transformers.utils.chat_template_utils import render_jinja_template  # noqa: PLC0415 (3 s; gemma only)

    variables: dict[str, Any] = {**template.tokens, "enable_thinking": False}  # names none of its own arguments
    out: Any = render_jinja_template(
        [messages], chat_template=template.text, add_generation_prompt=generation_prompt, **variables
    )
    # 5.24 returns (one text per conversation, generation indices), though it is annotated `-> str`.
    return out if isinstance(out, str) else out[0][0]


def _unique_marker(*texts: str) -> str:
    marker, n = MARKER, 1
    while any(marker in t for t in texts):
        n += 1
        marker = f"<FILL_ME_{n}>"
    return marker


def _fence(code: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    return "`" * max(3, longest + 1)


def instruction_messages(prefix: str, suffix: str, context: str = "") -> list[dict[str, str]]:
    """The one user turn: what to do, other files' code it uses (if any), the file with the marker."""
    marker = _unique_marker(prefix, suffix, context)
    parts = [ASK.format(marker=marker)]
    if context.strip():
        fence = _fence(context)
        parts.append(f"{CONTEXT}\n{fence}\n{context.rstrip()}\n{fence}")
    fence = _fence(prefix + suffix)
    parts.append(f"{fence}\n{prefix}{marker}{suffix}\n{fence}")
    return [{"role": "user", "content": "\n\n".join(parts)}]


def instruction_prompt(template: ChatTemplate, prefix: str, suffix: str, context: str = "") -> str:
    """The encoder's prompt text (encode it without adding special tokens: the template has them)."""
    return render(template, instruction_messages(prefix, suffix, context))


def cut_ids(ids: Sequence[int], stop_ids: Collection[int]) -> list[int]:
    """The answer's ids up to (not including) the first end-of-turn, end-of-text or pad id."""
    out: list[int] = []
    for i in ids:
        if i in stop_ids:
            break
        out.append(i)
    return out


def clean_answer(answer: str, prefix: str, suffix: str) -> str:
    """The middle in a model's answer (see `answer_span`)."""
    start, end = answer_span(answer, prefix, suffix)
    return answer[start:end]


def answer_span(answer: str, prefix: str, suffix: str) -> tuple[int, int]:
    """Where the middle is in `answer`, as [start, end): cut at an end-of-turn; past a thought
    channel; inside the first code fence (or without the sentences around it); past an echo of
    the prefix's end and before an echo of the suffix's start; without trailing blank space."""
    end = min([answer.find(s) for s in STOP_TEXTS if s in answer] or [len(answer)])
    start = _after_thought(answer, 0, end)
    start, end = _fenced(answer, start, end) or _without_prose(answer, start, end)
    start = _after_prefix_echo(answer, start, end, prefix)
    end = _before_suffix_echo(answer, start, end, suffix)
    return start, _trailing(answer, start, end, prefix, suffix)


def _lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) of each line of text[start:end], newline excluded."""
    out, at = [], start
    while at <= end:
        nl = text.find("\n", at, end)
        stop = end if nl < 0 else nl
        out.append((at, stop))
        if nl < 0:
            break
        at = nl + 1
    return out


def _after_thought(answer: str, start: int, end: int) -> int:
    """Past a leading thought channel (all of the answer when it never closes)."""
    lead = len(answer[start:end]) - len(answer[start:end].lstrip())
    if not answer.startswith(THOUGHT[0], start + lead):
        return start
    close = answer.find(THOUGHT[1], start + lead, end)
    return end if close < 0 else close + len(THOUGHT[1])


_FENCE = re.compile(r"[ \t]*(`{3,}|~{3,})")  # match() at a line start: no ^ (it anchors at 0 only)


def _fenced(answer: str, start: int, end: int) -> tuple[int, int] | None:
    """Inside the first fenced block (to its end when it never closes), or an inline `code` answer."""
    bare = answer[start:end].strip()
    if len(bare) > 2 and bare[0] == bare[-1] == "`" and "\n" not in bare and bare.count("`") == 2:
        at = answer.index("`", start) + 1
        return at, answer.rindex("`", at, end)
    lines = _lines(answer, start, end)
    for i, (a, b) in enumerate(lines):
        opened = _FENCE.match(answer, a, b)
        if not opened:
            continue
        mark = opened.group(1)
        inline = answer.find(mark, opened.end(), b)  # ```x = 1``` on one line
        if inline >= 0:
            return opened.end(), inline
        body = b + 1 if b < end else b
        for c, d in lines[i + 1 :]:
            if answer[c:d].strip().startswith(mark[0] * 3):
                return body, max(body, c)  # with the last line's break: `_trailing` decides on it
        return body, end
    return None


_LEAD_PROSE = re.compile(
    r"^(here(?:'s| is| are)|sure\b|certainly\b|of course\b|okay\b|ok\b|the (?:missing|completed?|middle|code)\b|"
    r"this (?:code|completes|fills|is)\b|below\b|i(?:'ve| have| will|'ll)\b)",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"[A-Z][\w'’,-]*(?: [\w'’,`.()/-]+){2,}[.:!]")


def _is_prose(line: str, leading: bool = False) -> bool:
    """A sentence of English at column 0 rather than a line of code. Before the code only chatter
    ("Here is ...") or a sentence ending in ":" counts: a plain sentence there may be the gap's own
    text (a docstring's, a comment's)."""
    s = line.strip()
    if not s or line[0].isspace() or any(c in s for c in "=;{}[]<>#"):
        return False
    if _LEAD_PROSE.match(s):
        return True
    return bool(_SENTENCE.fullmatch(s)) and (not leading or s.endswith(":"))


def _without_prose(answer: str, start: int, end: int) -> tuple[int, int]:
    """Without sentences before the code (and the blank lines after them), and without a block of
    sentences after it that a blank line sets apart."""
    lines = _lines(answer, start, end)
    text = [answer[a:b] for a, b in lines]
    first = 0
    while first < len(text) and _is_prose(text[first], leading=True):
        first += 1
        while first < len(text) and not text[first].strip():
            first += 1
    if first == len(text):
        return end, end
    last = len(text)
    while last > first and (not text[last - 1].strip() or _is_prose(text[last - 1])):
        last -= 1
    tail = text[last:]
    if not tail or text[last].strip() or not any(t.strip() for t in tail):  # no prose block, or not set apart
        last = len(text)
    return lines[first][0], (lines[last - 1][1] if last < len(text) else end)


def _after_prefix_echo(answer: str, start: int, end: int, prefix: str) -> int:
    """Past the prefix's end repeated: whole lines of it (through its partial last line), else its
    partial last line with or without its indentation."""
    partial = prefix.rfind("\n") + 1
    if not prefix[partial:].strip():  # the gap starts a line: blank lines before the code are not part of it
        while (nl := answer.find("\n", start, end)) >= 0 and not answer[start:nl].strip():
            start = nl + 1
    text = answer[start:end]
    best = 0
    line_starts = [0, *(i + 1 for i, c in enumerate(prefix) if c == "\n" and i + 1 < partial)]
    for p in line_starts:  # longest first
        echo = prefix[p:]
        if len(echo) <= len(text) and echo.strip() and text.startswith(echo):
            best = len(echo)
            break
    if not best:
        line = prefix[partial:]
        for echo in (line, line.lstrip()):
            if echo and text.startswith(echo):
                best = len(echo)
                break
    return start + best


def _before_suffix_echo(answer: str, start: int, end: int, suffix: str) -> int:
    """Before the suffix's start repeated at the answer's end (trailing blank space aside): its
    first lines, or its partial first line when that is more than one character."""
    text = answer[start:end].rstrip()
    cut = len(text)
    first = suffix.find("\n")
    ends = [i for i, c in enumerate(suffix[: len(text) + 1]) if c == "\n" and i > first] + [len(suffix)]
    for q in sorted(set(ends), reverse=True) if first >= 0 else ():  # longest first, past the first line break
        echo = suffix[:q].rstrip()
        if "\n" in echo and echo.strip() and len(echo) <= len(text) and text.endswith(echo):
            return start + cut - len(echo)
    line = suffix[: first if first >= 0 else len(suffix)].rstrip()
    if len(line.strip()) > 1 and text.endswith(line):
        return start + cut - len(line)
    return end


def _trailing(answer: str, start: int, end: int, prefix: str, suffix: str) -> int:
    """Without trailing blank space, except the line break that keeps a suffix starting on a line
    of its own there."""
    body = answer[start:end].rstrip()
    stop = start + len(body)
    own_line = (not prefix or prefix.endswith("\n")) and suffix and not suffix.startswith("\n") and body
    if own_line and "\n" in answer[stop:end]:
        return answer.index("\n", stop, end) + 1
    return stop
