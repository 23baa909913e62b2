from __future__ import annotations

from pathlib import Path

from lsp.fill.gaps import find_gap, placeholder_gaps

REPO = Path(__file__).resolve().parents[3]


def test_placeholder_bodies_of_the_sample_file() -> None:
    text = (REPO / "examples" / "shapes.py").read_text()
    gaps = placeholder_gaps("python", text)
    replaced = [text[g.start : g.end] for g in gaps]
    assert replaced == ["pass", "...", "raise NotImplementedError", "pass", "pass"]
    assert all(g.kind == "body" and g.multiline for g in gaps)
    assert [g.indent for g in gaps] == ["    ", "    ", "    ", "        ", "        "]


def test_a_placeholder_beside_real_statements_is_not_a_gap() -> None:
    text = "def f(x):\n    if x:\n        pass\n    return x\n\nclass E(Exception):\n    pass\n"
    gaps = placeholder_gaps("python", text)
    # `if x: pass` is a body of its own; the class body is one too; `return x` is not a placeholder
    assert [text[g.start : g.end] for g in gaps] == ["pass", "pass"]
    one_line = "def f(): pass\n"
    assert placeholder_gaps("python", one_line) == []


def test_cursor_gap_shapes() -> None:
    text = 'def area(w, h):\n    """Area."""\n    pass\n\nx = compute(\n'
    body = find_gap("python", text, text.index("pass") + 2)
    assert body.kind == "body" and text[body.start : body.end] == "pass"
    blank = find_gap("python", text, text.index("\n\n") + 1)
    assert blank.kind == "lines" and blank.start == blank.end
    line = find_gap("python", text, len(text) - 1)
    assert line.kind == "line" and not line.multiline and line.indent == ""
