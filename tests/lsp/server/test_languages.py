"""The five languages: grammars from their wheels, placeholder queries, and real fills through
`fillgap serve` on the sample files in examples/ (one per language)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types

from lsp.eval.client import apply_item, apply_workspace_edit, inline, open_doc, position_of, running_server
from lsp.eval.measure import body_cases
from lsp.fill.gaps import placeholder_gaps
from lsp.fill.syntax import EXTENSIONS, LANGUAGES, error_nodes, grammar, parse

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
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
    return {"threads": 1, "snippets": "off", "worker": {"mode": "private"}}


async def _actions(client, uri: str, pos: types.Position, end: types.Position | None = None) -> dict:
    listed = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=pos, end=end or pos),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    return {a.title.split(" (")[0]: a for a in listed or [] if isinstance(a, types.CodeAction)}


@pytest.mark.slow
@pytest.mark.parametrize("language", sorted(SAMPLES))
async def test_every_request_in_each_language_applies_and_parses(language: str) -> None:
    """Inline completion, the completion fallback, Fill body, Fill all gaps and Rewrite selection on
    the language's sample file, through one server. Whatever is offered must apply to the text
    the server was given and leave the file parsing; inline and Fill body must be offered for at
    least one of the five placeholders (the model is small: not for every one)."""
    text = SAMPLES[language].read_text()
    uri = f"file:///tmp/{SAMPLES[language].name}"
    gaps = placeholder_gaps(language, text)
    offered: dict[str, int] = {"inline": 0, "completion": 0, "body": 0}
    async with running_server(_settings()) as client:
        open_doc(client, uri, text, language=language, version=7)
        for gap in gaps:
            pos = position_of(text, gap.end)
            for item in (await inline(client, uri, pos.line, pos.character))[:1]:
                after = apply_item(text, item)
                assert after != text and _clean(language, after), after
                offered["inline"] += 1
            done = await client.text_document_completion_async(
                types.CompletionParams(text_document=types.TextDocumentIdentifier(uri=uri), position=pos)
            )
            for citem in (done.items if isinstance(done, types.CompletionList) else done or [])[:1]:
                assert isinstance(citem.text_edit, types.TextEdit)
                after, _ = apply_workspace_edit(text, uri, _edit(uri, 7, citem.text_edit))
                assert _clean(language, after), after
                offered["completion"] += 1
            if offered["inline"] and offered["completion"]:
                break
        for gap in gaps:
            body = (await _actions(client, uri, position_of(text, gap.start)))["Fill body"]
            resolved = await client.code_action_resolve_async(body)
            if resolved.edit is not None:
                after, version = apply_workspace_edit(text, uri, resolved.edit)
                assert version == 7 and after != text and _clean(language, after), after
                offered["body"] += 1
                break
        every = (await _actions(client, uri, position_of(text, 0)))["Fill all gaps in file"]
        resolved = await client.code_action_resolve_async(every)
        if resolved.edit is not None:
            after, _ = apply_workspace_edit(text, uri, resolved.edit)
            assert _clean(language, after) and len(placeholder_gaps(language, after)) < len(gaps), after
        line_of = text[: gaps[0].start].count("\n")  # the line above the first gap: a signature
        sig_start = types.Position(line=line_of - 1, character=0)
        sig_end = position_of(text, text.rfind("\n", 0, gaps[0].start))
        rewrite = (await _actions(client, uri, sig_start, sig_end)).get("Rewrite selection")
        if rewrite is not None:
            resolved = await client.code_action_resolve_async(rewrite)
            if resolved.edit is not None:
                after, _ = apply_workspace_edit(text, uri, resolved.edit)
                assert _clean(language, after), after
    assert offered["inline"] and offered["body"], offered


def _edit(uri: str, version: int, edit: types.TextEdit) -> types.WorkspaceEdit:
    doc = types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version)
    return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(text_document=doc, edits=[edit])])
