"""Turn a raw model insertion into one worth showing: a chain of small named filters, then a
syntax check in context that keeps the longest run of whole lines that parses.

Each filter takes the text and the gap and returns text ("" drops the suggestion).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import tree_sitter as ts

from lsp.fill.gaps import Gap
from lsp.fill.region import cached_region
from lsp.fill.syntax import ByteIndex, error_nodes, grammar, insertion_parses, parse, strictly_clean

Filter = Callable[[str, Gap, str], str]


def strip_trailing_space(text: str, gap: Gap, suffix: str) -> str:
    return "\n".join(line.rstrip() for line in text.rstrip().split("\n"))


def single_line(text: str, gap: Gap, suffix: str) -> str:
    return text if gap.multiline else text.split("\n", 1)[0]


def stop_at_dedent(text: str, gap: Gap, suffix: str) -> str:
    """A body ends where a line is indented less than the body: that line belongs to the suffix."""
    lines = text.split("\n")
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() and not line.startswith(gap.indent):
            return "\n".join(lines[:i]).rstrip()
    return text


_EXIT = re.compile(r"(return|raise|throw|break|continue)\b")
_CLOSERS = (")", "]", "}")
_PIECE = re.compile(r"\w+|\S")  # a word, or one mark: where the rest of a line may be cut
LINE_CUTS = 6  # shorter cuts of a line tried, longest first: each is a parse of the gap's region


def stop_after_exit(text: str, gap: Gap, suffix: str) -> str:
    """Nothing after a `return` (raise, throw, break, continue) in the same block runs: cut at the
    next line that starts a statement at the gap's level (a closing bracket there is the exit's own).
    The model often repeats its last line ("return None" twice)."""
    lines = text.split("\n")
    exited = False
    for i, line in enumerate(lines):
        rest = line.lstrip() if i == 0 else line[len(gap.indent) :] if line.startswith(gap.indent) else ""
        if not rest or rest[0] in " \t":
            continue  # blank, or deeper than the gap's level: inside the statement above
        if exited and not rest.startswith(_CLOSERS):
            return "\n".join(lines[:i]).rstrip()
        exited = exited or _EXIT.match(rest) is not None
    return text


def drop_suffix_echo(text: str, gap: Gap, suffix: str) -> str:
    """Cut trailing lines that repeat the lines right after the gap (the model copying its context)."""
    lines = text.split("\n")
    following = [line.strip() for line in suffix.split("\n") if line.strip()][: len(lines)]
    for n in range(min(len(lines), len(following)), 0, -1):
        if [line.strip() for line in lines[-n:]] == following[:n]:
            return "\n".join(lines[:-n]).rstrip()
    if not gap.multiline and suffix.split("\n", 1)[0].strip() and text.endswith(suffix.split("\n", 1)[0]):
        return text[: len(text) - len(suffix.split("\n", 1)[0])]
    return text


FILTERS: tuple[Filter, ...] = (strip_trailing_space, single_line, stop_at_dedent, stop_after_exit, drop_suffix_echo)


def clean(text: str, gap: Gap, suffix: str) -> str:
    for step in FILTERS:
        text = step(text, gap, suffix)
        if not text.strip():
            return ""
    return text


def parses(
    language_id: str,
    document: str,
    gap: Gap,
    text: str,
    document_tree: ts.Tree | None = None,
    whole_file: bool = False,
) -> bool:
    """The insertion parses in context and, for a body, holds at least one real statement; with
    `whole_file`, its region must then parse without any error (an insertion may mend a broken one).

    Checked in the gap's region (lsp/fill/region.py), found once per gap from the document's tree
    (`document_tree`, or a parse when the caller has none); the rest of the file, which the
    insertion cannot change, is not looked at."""
    if not text.strip():
        return False
    region = cached_region(language_id, document, gap.start, gap.end, document_tree)
    start, old_end = gap.start - region.start, gap.end - region.start
    end = start + len(text)
    after = region.text[:start] + text + region.text[old_end:]
    tree = parse(language_id, after)
    if not insertion_parses(language_id, region.text, after, start, end, tree, region.tree):
        return False
    if whole_file and (error_nodes(tree, language_id) or not strictly_clean(language_id, after)):
        return False
    return gap.kind != "body" or adds_code(language_id, after, tree, start, end)


def adds_code(language_id: str, after: str, tree: ts.Tree, start: int, end: int) -> bool:
    """Whether chars [start, end) of the document (parsed as `tree`) hold a statement that is not
    trivia (a lone docstring, comment or placeholder; grammars/<lang>/trivia.scm)."""
    index = ByteIndex(after)
    s, e = index.to_byte(start), index.to_byte(end)
    trivia = {n.id for n in ts.QueryCursor(grammar(language_id).trivia).captures(tree.root_node).get("trivia", [])}
    inside, stack = [], [tree.root_node]
    while stack:  # the outermost named nodes lying wholly within the insertion
        node = stack.pop()
        if node.start_byte >= s and node.end_byte <= e and node.is_named:
            inside.append(node)
        elif node.start_byte < e and node.end_byte > s:
            stack.extend(node.children)
    return not inside or not all(_is_trivia(n, trivia) for n in inside)


def _is_trivia(node: ts.Node, trivia: set[int]) -> bool:
    """A trivia node, or a wrapper of one (a block holding just that statement, same span)."""
    while node.id not in trivia:
        if node.named_child_count != 1 or node.named_children[0].byte_range != node.byte_range:
            return False
        node = node.named_children[0]
    return True


def error_ranges(
    language_id: str, document: str, gap: Gap, text: str, document_tree: ts.Tree | None = None
) -> list[tuple[int, int]]:
    """Character ranges of the insertion under syntax errors, widened by one character each side
    so a MISSING node (zero width) still covers the tokens around it. (In the gap's region: an
    error elsewhere in the file cannot lie in the insertion.)"""
    region = cached_region(language_id, document, gap.start, gap.end, document_tree)
    at = gap.start - region.start
    after = region.text[:at] + text + region.text[gap.end - region.start :]
    index = ByteIndex(after)
    ranges = []
    for node in error_nodes(parse(language_id, after), language_id):
        start = index.to_char(node.start_byte) - at - 1
        end = index.to_char(node.end_byte) - at + 1
        if end > 0 and start < len(text):
            ranges.append((max(0, start), min(len(text), end)))
    return ranges


def longest_parsing_prefix(
    language_id: str, document: str, gap: Gap, text: str, document_tree: ts.Tree | None = None
) -> str:
    """The insertion cut to its longest run of leading whole lines that parses in context; for the
    rest of a line, else to its longest run of whole words and marks (`, h)` after `return w`
    gives `, h`); else ''."""
    lines = text.split("\n")
    for n in range(len(lines), 0, -1):
        candidate = "\n".join(lines[:n]).rstrip()
        if parses(language_id, document, gap, candidate, document_tree):
            return candidate
    if gap.kind != "line":
        return ""
    ends = [m.end() for m in _PIECE.finditer(text) if m.end() < len(text.rstrip())]
    for end in reversed(ends[-LINE_CUTS:]):
        candidate = text[:end].rstrip()
        if candidate.strip() and parses(language_id, document, gap, candidate, document_tree):
            return candidate
    return ""


def parses_worse(
    language_id: str, document: str, edits: list[tuple[int, int, str]], document_tree: ts.Tree | None = None
) -> bool:
    """Whether the document with every edit (start, end, text; apart, in order) applied has more
    error nodes than without: counted in the edits' regions, merged where they overlap, since
    outside them nothing changes."""
    regions = [cached_region(language_id, document, s, e, document_tree) for s, e, _ in edits]
    spans: list[list[int]] = []
    for r in sorted(regions, key=lambda r: r.start):
        if spans and r.start < spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], r.end)
        else:
            spans.append([r.start, r.end])
    before = after = 0
    for a, b in spans:
        mine = [(s, e, t) for s, e, t in edits if a <= s and e <= b]
        text = piece = document[a:b]
        for s, e, t in reversed(mine):
            piece = piece[: s - a] + t + piece[e - a :]
        before += len(error_nodes(parse(language_id, text), language_id))
        after += len(error_nodes(parse(language_id, piece), language_id))
    return after > before
