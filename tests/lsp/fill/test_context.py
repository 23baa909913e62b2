"""Cross-file context: the headers of other open documents' definitions that a gap's code names."""

from __future__ import annotations

import pytest
from pygls.workspace import PositionCodec

from lsp.fill.context import MAX_CHARS, OpenDocument, related_context
from lsp.fill.syntax import parse
from lsp.server.trees import DocumentTrees

GEO = {
    "python": ("geo.py", "import math\n\n\ndef area(w, h):\n    return w * h\n\n\ndef unused():\n    pass\n"),
    "javascript": ("geo.js", "import fs from 'fs';\nfunction area(w, h) {\n  return w * h;\n}\nfunction unused() {}\n"),
    "typescript": ("geo.ts", "export function area(w: number, h: number): number {\n  return w * h;\n}\n"),
    "go": ("geo.go", "package geo\n\nimport \"math\"\n\nfunc area(w, h float64) float64 {\n\treturn w * h\n}\n"),
    "rust": ("geo.rs", "use std::fmt;\n\npub fn area(w: f64, h: f64) -> f64 {\n    w * h\n}\nfn unused() {}\n"),
}
CALL = "total = area(2, 3)\n"


def _doc(language: str) -> OpenDocument:
    name, text = GEO[language]
    return OpenDocument(f"file:///p/{name}", language, text, parse(language, text))


@pytest.mark.parametrize("language", sorted(GEO))
def test_a_named_definition_comes_with_its_files_imports_and_not_its_body(language: str) -> None:
    context = related_context(language, CALL, 0, 5, [_doc(language)])
    assert GEO[language][0] in context.splitlines()[0]
    assert "area(" in context and "w * h" not in context and "unused" not in context
    if language != "typescript":
        assert any(word in context for word in ("import", "use std"))


def test_no_context_when_nothing_near_the_gap_is_defined_elsewhere_or_the_language_differs() -> None:
    assert related_context("python", "x = 1\n", 0, 1, [_doc("python")]) == ""
    assert related_context("python", CALL, 0, 5, [_doc("rust")]) == ""


def test_context_stays_within_its_character_budget() -> None:
    many = [
        OpenDocument(f"file:///p/m{i}.py", "python", text, parse("python", text))
        for i, text in enumerate(["def area(" + "a, " * 60 + "b):\n    return 1\n"] * 40)
    ]
    context = related_context("python", CALL, 0, 5, many)
    assert 0 < len(context) <= MAX_CHARS


def test_the_server_keeps_other_open_documents_for_context() -> None:
    trees = DocumentTrees()
    codec = PositionCodec()
    trees.open("file:///p/geo.py", "python", GEO["python"][1], codec)
    trees.open("file:///p/main.py", "python", CALL, codec)
    trees.open("file:///p/geo.rs", "rust", GEO["rust"][1], codec)
    others = trees.others("file:///p/main.py", "python")
    assert [d.uri for d in others] == ["file:///p/geo.py"]
    assert "def area(w, h): ..." in related_context("python", CALL, 0, 5, others)
