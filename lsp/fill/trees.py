"""Incremental tree-sitter parsing of an edited text: a copy of a tree told about one edit, then
re-parsed from it, so a big file costs a few milliseconds per edit instead of a full parse.

Used to check a candidate insertion against the document's kept tree (lsp/fill/postprocess.py)
and, by the server, to keep each open document's tree current (lsp/server/trees.py).
"""

from __future__ import annotations

import tree_sitter as ts

from lsp.fill.syntax import grammar


def _point(text: str, offset: int) -> tuple[int, int]:
    """(row, byte column) of a character offset, as tree-sitter counts."""
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset), len(text[line_start:offset].encode("utf-8"))


def _byte(text: str, offset: int) -> int:
    return len(text[:offset].encode("utf-8"))


def edited(tree: ts.Tree, before: str, start: int, end: int, new_text: str) -> tuple[ts.Tree, str]:
    """A copy of `tree` told that before[start:end] became new_text, and the text after the edit."""
    after = before[:start] + new_text + before[end:]
    copy = tree.copy()
    copy.edit(
        start_byte=_byte(before, start),
        old_end_byte=_byte(before, end),
        new_end_byte=_byte(after, start + len(new_text)),
        start_point=_point(before, start),
        old_end_point=_point(before, end),
        new_end_point=_point(after, start + len(new_text)),
    )
    return copy, after


def reparse(language_id: str, tree: ts.Tree, text: str) -> ts.Tree:
    """`text` parsed reusing `tree`, which must have been told of the edits (`edited`)."""
    return ts.Parser(grammar(language_id).language).parse(text.encode("utf-8"), tree)
