"""Incremental tree-sitter parsing of an edited text: a copy of a tree told about one edit, then
re-parsed from it, so a big file costs a few milliseconds per edit instead of a full parse.

Used by the server to keep each open document's tree current (lsp/server/trees.py), and to carry a
document's tree through fills made in turn (lsp/fill/pipeline.py). Candidates are checked in their
region instead (lsp/fill/region.py): re-parsing a 10 MB file, even incrementally, took a second.
"""

from __future__ import annotations

import tree_sitter as ts

from lsp.fill.syntax import grammar


def _utf8(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _after(start: tuple[int, int, int], text: str) -> tuple[int, int, int]:
    """(byte, row, byte column) just after `text` when it begins at `start` (the same)."""
    byte, row, column = start
    rows = text.count("\n")
    column = _utf8(text[text.rfind("\n") + 1 :]) if rows else column + _utf8(text)
    return byte + _utf8(text), row + rows, column


def edited(tree: ts.Tree, before: str, start: int, end: int, new_text: str) -> tuple[ts.Tree, str]:
    """A copy of `tree` told that before[start:end] became new_text, and the text after the edit.

    The text before the edit is encoded and its line breaks counted once (the start's byte offset
    and row); the edit's ends are counted from there."""
    after = before[:start] + new_text + before[end:]
    line = before.rfind("\n", 0, start) + 1
    at = (_utf8(before[:start]), before.count("\n", 0, start), _utf8(before[line:start]))
    old_end, new_end = _after(at, before[start:end]), _after(at, new_text)
    copy = tree.copy()
    copy.edit(
        start_byte=at[0],
        old_end_byte=old_end[0],
        new_end_byte=new_end[0],
        start_point=at[1:],
        old_end_point=old_end[1:],
        new_end_point=new_end[1:],
    )
    return copy, after


def reparse(language_id: str, tree: ts.Tree, text: str) -> ts.Tree:
    """`text` parsed reusing `tree`, which must have been told of the edits (`edited`)."""
    return ts.Parser(grammar(language_id).language).parse(text.encode("utf-8"), tree)
