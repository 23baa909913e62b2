"""The five languages: grammars from their wheels, placeholder queries, and real fills through
`fillgap serve` on the sample files in examples/ (one per language)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types

from lsp.client import apply_item, apply_workspace_edit, inline, open_doc, position_of, running_server
from lsp.gaps import placeholder_gaps
from lsp.measure import body_cases
from lsp.syntax import EXTENSIONS, LANGUAGES, error_nodes, grammar, parse

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SAMPLES = {
    lang: EXAMPLES / f"shapes.{ext}"
    for lang, ext in (("python", "py"), ("javascript", "js"), ("typescript", "ts"), ("go", "go"), ("rust", "rs"))
}


def _clean(language: str, text: str) -> bool:
    return not error_nodes(parse(language, text), language)


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_every_language_loads_its_grammar_and_queries(language: str) -> None:
    g = grammar(language)
    assert g.gaps.pattern_count > 0 and g.bodies.pattern_count > 0 and g.blocks.pattern_count > 0
    assert _clean(language, g.placeholder if language != "go" else f"package p\nfunc f() {{\n\t{g.placeholder}\n}}\n")


@pytest.mark.parametrize("language", sorted(SAMPLES))
def test_each_sample_has_five_placeholder_bodies_and_parses(language: str) -> None:
    text = SAMPLES[language].read_text()
    assert EXTENSIONS[SAMPLES[language].suffix] == language
    assert _clean(language, text)
    gaps = placeholder_gaps(language, text)
    assert len(gaps) == 5
    for gap in gaps:
        line = text[text.rfind("\n", 0, gap.start) + 1 : text.find("\n", gap.end)]
        assert line.strip() == text[gap.start : gap.end]  # the placeholder is its whole line


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("javascript", "function f() {\n  const x = 1;\n  throw new Error('no');\n}\n"),
        ("go", 'package p\n\nfunc f() {\n\tx := 1\n\tpanic("no")\n}\n'),
        ("rust", "fn f() -> i32 {\n    let x = 1;\n    todo!()\n}\n"),
        ("rust", "fn f() {\n    // explains why this is empty, no todo\n}\n"),
    ],
)
def test_a_placeholder_beside_real_code_is_not_a_gap(language: str, text: str) -> None:
    assert placeholder_gaps(language, text) == []


@pytest.mark.parametrize("language", sorted(SAMPLES))
def test_measure_blanks_real_bodies_with_the_languages_placeholder(language: str, tmp_path: Path) -> None:
    path = tmp_path / SAMPLES[language].name
    text = SAMPLES[language].read_text()
    # A filled copy: every placeholder replaced by a real statement, so there are bodies to blank.
    body = {"python": "return 1", "javascript": "return 1;", "typescript": "return 1;", "go": "return", "rust": "1"}
    for gap in reversed(placeholder_gaps(language, text)):
        text = text[: gap.start] + body[language] + text[gap.end :]
    path.write_text(text)
    cases = body_cases(path)
    assert cases and all(_clean(language, c.document) for c in cases)
    assert all(c.document[c.gap.start : c.gap.end] == grammar(language).placeholder for c in cases)


def _settings() -> dict:
    return {"threads": 1, "snippets": "off"}


@pytest.mark.slow
@pytest.mark.parametrize("language", sorted(SAMPLES))
async def test_inline_fill_in_each_language_applies_and_parses(language: str) -> None:
    """At each placeholder in turn until one is offered: the item replaces the placeholder's line
    range, and the file parses after it (any offered item must)."""
    text = SAMPLES[language].read_text()
    uri = f"file:///tmp/{SAMPLES[language].name}"
    offered = 0
    async with running_server(_settings()) as client:
        open_doc(client, uri, text, language=language)
        for gap in placeholder_gaps(language, text):
            pos = position_of(text, gap.end)
            items = await inline(client, uri, pos.line, pos.character)
            for item in items[:1]:
                after = apply_item(text, item)
                assert after != text and _clean(language, after), after
                offered += 1
            if offered:
                break
    assert offered, f"no inline suggestion for any {language} placeholder"


@pytest.mark.slow
@pytest.mark.parametrize("language", sorted(SAMPLES))
async def test_fill_body_action_in_each_language_applies_and_parses(language: str) -> None:
    text = SAMPLES[language].read_text()
    uri = f"file:///tmp/{SAMPLES[language].name}"
    async with running_server(_settings()) as client:
        open_doc(client, uri, text, language=language, version=7)
        for gap in placeholder_gaps(language, text):
            pos = position_of(text, gap.start)
            listed = await client.text_document_code_action_async(
                types.CodeActionParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    range=types.Range(start=pos, end=pos),
                    context=types.CodeActionContext(diagnostics=[]),
                )
            )
            body = [a for a in listed or [] if isinstance(a, types.CodeAction) and a.title == "Fill body"]
            assert body, [getattr(a, "title", a) for a in listed or []]
            resolved = await client.code_action_resolve_async(body[0])
            if resolved.edit is None:
                continue
            after, version = apply_workspace_edit(text, uri, resolved.edit)
            assert version == 7 and after != text and _clean(language, after), after
            return
    pytest.fail(f"Fill body offered nothing for any {language} placeholder")
