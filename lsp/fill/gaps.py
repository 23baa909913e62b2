"""Where to fill: placeholder bodies found with `grammars/<lang>/gaps.scm`, and the cursor's gap.

Offsets are character offsets into the document text. A gap replaces text[start:end].
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import tree_sitter as ts

from lsp.fill.region import cached_region
from lsp.fill.syntax import ByteIndex, captured, grammar, parse

BODY_BUDGETS = (8, 16, 32, 48)  # tokens; the model pads what it does not use with null tokens
LINES_BUDGETS = (16, 32)
LINE_BUDGETS = (8, 16)


@dataclass(frozen=True)
class Budgets:
    """Candidate gap lengths, in tokens, tried in one batch for each kind of gap."""

    body: tuple[int, ...] = BODY_BUDGETS
    lines: tuple[int, ...] = LINES_BUDGETS
    line: tuple[int, ...] = LINE_BUDGETS

    def __post_init__(self) -> None:
        for kind in ("body", "lines", "line"):
            values = getattr(self, kind)
            if not values or any(not 1 <= b <= 1024 for b in values):
                raise ValueError(f"budgets.{kind} must be 1 to 1024 tokens each, got {list(values)}")


DEFAULT_BUDGETS = Budgets()


@dataclass(frozen=True)
class Gap:
    kind: str  # "body": a placeholder body; "lines": a blank line; "line": the rest of a line
    start: int
    end: int
    indent: str  # indentation of the gap's first line; later lines may not dedent below it
    budgets: tuple[int, ...]

    @property
    def multiline(self) -> bool:
        return self.kind != "line"


def _only_statement(node: ts.Node, blocks: set[int], trivia: set[int]) -> bool:
    """Whether `node` is alone in its block but for trivia (docstrings, comments), climbing
    through nested statement containers (Go keeps a block's statements in a statement_list)."""
    parent = node.parent
    if parent is None or parent.id not in blocks:
        return False
    while parent is not None and parent.id in blocks:
        if not all(c.id == node.id or c.id in trivia for c in parent.named_children):
            return False
        node, parent = parent, parent.parent
    return True


def line_start(text: str, offset: int) -> int:
    """Offset of the start of the line holding `offset`."""
    return text.rfind("\n", 0, offset) + 1


def line_end(text: str, offset: int) -> int:
    """Offset of the end (the newline, or the end of text) of the line holding `offset`."""
    end = text.find("\n", offset)
    return len(text) if end < 0 else end


def placeholder_gaps(
    language_id: str, text: str, budgets: Budgets = DEFAULT_BUDGETS, tree: ts.Tree | None = None
) -> list[Gap]:
    """Every placeholder body in the document, in order."""
    tree = tree or parse(language_id, text)
    index = ByteIndex(text)
    g = grammar(language_id)
    blocks = {n.id for n in captured(g.blocks, tree.root_node, "block")}
    trivia = {n.id for n in captured(g.trivia, tree.root_node, "trivia")}
    gaps = []
    for node in captured(g.gaps, tree.root_node, "placeholder"):
        if not _only_statement(node, blocks, trivia):
            continue
        start, end = index.to_char(node.start_byte), index.to_char(node.end_byte)
        indent = text[line_start(text, start) : start]
        if indent.strip():
            continue  # `def f(): pass` on one line: no body line to write into
        gaps.append(Gap("body", start, end, indent, budgets.body))
    return gaps


def placeholders_near(
    language_id: str,
    text: str,
    start: int,
    end: int,
    budgets: Budgets = DEFAULT_BUDGETS,
    tree: ts.Tree | None = None,
) -> list[Gap]:
    """The placeholder bodies in the region of text[start:end] (lsp/fill/region.py: the top-level
    statements there), found in that region alone: a query's cost is the region's, not the file's."""
    region = cached_region(language_id, text, start, end, tree)
    found = placeholder_gaps(language_id, region.text, budgets, region.tree)
    return [replace(g, start=region.to_document(g.start), end=region.to_document(g.end)) for g in found]


def find_gap(
    language_id: str, text: str, offset: int, budgets: Budgets = DEFAULT_BUDGETS, tree: ts.Tree | None = None
) -> Gap:
    """The gap at the cursor: the placeholder body on its line, else its blank line, else the rest of its line.

    Placeholders are looked for in the cursor line's region only, not the whole file."""
    start_of_line, end_of_line = line_start(text, offset), line_end(text, offset)
    for gap in placeholders_near(language_id, text, start_of_line, end_of_line, budgets, tree):
        if line_start(text, gap.start) == start_of_line:
            return gap
    line = text[start_of_line:end_of_line]
    if not line.strip():
        indent = line[: offset - start_of_line]
        return Gap("lines", offset, end_of_line, indent, budgets.lines)
    indent = line[: len(line) - len(line.lstrip())]
    return Gap("line", offset, offset, indent, budgets.line)
