"""The part of a document that decides whether an insertion parses: the whole lines of the
top-level statements that hold the gap or border it, parsed on their own.

A top-level statement starts in the parser's initial state (no open bracket, string or indented
block), so the statements around a gap parse alone as they do in the file, and text outside them
cannot change whether an insertion between them parses: an insertion that leaves a bracket or a
string open now meets the end of the region, an error, where in the file it would have swallowed
what follows. Checking a candidate in the region costs what the region costs, not the file (a 10 MB
file's whole-tree query took seconds per candidate). Finding the region uses only the document's
kept tree, two counts of line breaks, and scans of the lines between the gap and the region's edges.

Errors elsewhere in the file are not looked for: the insertion cannot change them, so an insertion
"mends the file" (pipeline's first preference) when it leaves its region clean.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import tree_sitter as ts

from lsp.fill.syntax import parse


@dataclass(frozen=True)
class Region:
    start: int  # character offset in the document: the start of a line
    end: int  # character offset: just past a line break, or the end of the document
    text: str  # document[start:end]
    tree: ts.Tree  # `text` parsed alone

    def to_document(self, char: int) -> int:
        """A character offset in `text` as one in the document."""
        return self.start + char


def _last_row(node: ts.Node) -> int:
    """The last row holding the node's text (a node may end at column 0, just past a line break)."""
    row, column = node.end_point
    return row - 1 if column == 0 and row > node.start_point.row else row


def _point(document: str, offset: int, row: int) -> tuple[int, int]:
    """(row, byte column) of a character offset on `row`, as tree-sitter counts (rows end at \\n only)."""
    line_start = document.rfind("\n", 0, offset) + 1
    return row, len(document[line_start:offset].encode("utf-8", "surrogatepass"))


def _child_for_point(tree: ts.Tree, point: tuple[int, int]) -> ts.Node:
    """The root's first child ending after `point`, else its last child."""
    cursor = tree.walk()
    if cursor.goto_first_child_for_point(point) is None:
        cursor.goto_last_child()
    node = cursor.node
    assert node is not None
    return node


def _top_nodes(tree: ts.Tree, low: tuple[int, int], high: tuple[int, int]) -> tuple[ts.Node, ts.Node] | None:
    """The first and last top-level nodes of the region for points [low, high]: those holding
    them, the ones just before and after, and any other sharing a line with these."""
    root = tree.root_node
    if root.child_count == 0:
        return None
    first = _child_for_point(tree, low)
    if tuple(first.start_point) >= low and first.prev_sibling is not None:
        first = first.prev_sibling  # the gap lies before `first`: what precedes it may continue into the gap
    last = _child_for_point(tree, high)
    while first.prev_sibling is not None and _last_row(first.prev_sibling) >= first.start_point.row:
        first = first.prev_sibling
    while last.next_sibling is not None and last.next_sibling.start_point.row <= _last_row(last):
        last = last.next_sibling
    return first, last


def _line_start_of_row(document: str, offset: int, rows_up: int) -> int:
    """The start of the line `rows_up` lines above the one holding `offset`."""
    at = document.rfind("\n", 0, offset)
    for _ in range(rows_up):
        if at < 0:
            return 0
        at = document.rfind("\n", 0, at)
    return at + 1


def _line_end_of_row(document: str, offset: int, rows_down: int) -> int:
    """Just past the line break ending the line `rows_down` lines below the one holding `offset`."""
    at = offset - 1
    for _ in range(rows_down + 1):
        at = document.find("\n", at + 1)
        if at < 0:
            return len(document)
    return at + 1


def region_around(language_id: str, document: str, start: int, end: int, tree: ts.Tree | None = None) -> Region:
    """The region deciding whether text put at document[start:end] parses; `tree` is the
    document's (parsed here when the caller has none: once, where a candidate check costs the region)."""
    tree = tree if tree is not None else parse(language_id, document)
    row = document.count("\n", 0, start)  # the one scan of the text before the gap (C speed)
    low, high = _point(document, start, row), _point(document, end, row + document.count("\n", start, end))
    tops = _top_nodes(tree, low, high)
    if tops is None:
        return Region(0, len(document), document, parse(language_id, document))
    first, last = tops
    r0 = min(first.start_point.row, low[0])
    r1 = max(_last_row(last), high[0])
    a = _line_start_of_row(document, start, low[0] - r0)
    b = _line_end_of_row(document, end, r1 - high[0])
    text = document[a:b]
    return Region(a, b, text, parse(language_id, text))


_CACHE: OrderedDict[tuple[str, str, int, int], Region] = OrderedDict()
_CACHE_SIZE = 4  # a fill needs two (its cursor line's, its gap's); each holds its document


def cached_region(language_id: str, document: str, start: int, end: int, tree: ts.Tree | None = None) -> Region:
    """`region_around`, remembered for the last few gaps: every candidate of a fill, its repair
    and its cut-back are checked in one region found once. (The key holds the document itself;
    Python hashes a string once, and compares the same object by identity.)"""
    key = (language_id, document, start, end)
    found = _CACHE.get(key)
    if found is None:
        found = _CACHE[key] = region_around(language_id, document, start, end, tree)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    _CACHE.move_to_end(key)
    return found
