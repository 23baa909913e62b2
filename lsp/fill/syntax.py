"""Tree-sitter languages and parsing: which languages we know, and whether text parses.

Grammars come from their PyPI wheels, imported here (a few milliseconds); queries come from
`grammars/<language>/` and are compiled on first use, so the server starts without paying for them.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache

import tree_sitter as ts
import tree_sitter_go
import tree_sitter_javascript
import tree_sitter_python
import tree_sitter_rust
import tree_sitter_typescript

from grammars import query_source


@dataclass(frozen=True)
class LanguageSpec:
    language: Callable[[], object]  # the grammar wheel's function returning the language pointer
    folder: str  # grammars/<folder> holds the queries
    extensions: tuple[str, ...]
    placeholder: str  # a body that does nothing yet: what `fillgap measure` writes in place of one


_THROW = 'throw new Error("TODO");'

# languageId (as editors send it) -> its grammar. Adding a language: a grammars/ folder, its wheel
# imported above, and a line here.
LANGUAGES: dict[str, LanguageSpec] = {
    "python": LanguageSpec(tree_sitter_python.language, "python", (".py", ".pyi"), "pass"),
    "javascript": LanguageSpec(tree_sitter_javascript.language, "javascript", (".js", ".mjs", ".cjs"), _THROW),
    "javascriptreact": LanguageSpec(tree_sitter_javascript.language, "javascript", (".jsx",), _THROW),
    "typescript": LanguageSpec(tree_sitter_typescript.language_typescript, "typescript", (".ts", ".mts"), _THROW),
    "typescriptreact": LanguageSpec(tree_sitter_typescript.language_tsx, "typescript", (".tsx",), _THROW),
    "go": LanguageSpec(tree_sitter_go.language, "go", (".go",), 'panic("TODO")'),
    "rust": LanguageSpec(tree_sitter_rust.language, "rust", (".rs",), "todo!()"),
}
EXTENSIONS = {ext: lang for lang, spec in LANGUAGES.items() for ext in spec.extensions}
QUERIES = ("gaps", "bodies", "trivia", "invalid", "blocks", "definitions", "imports")


class UnsupportedLanguage(LookupError):
    pass


@dataclass(frozen=True)
class Grammar:
    name: str
    language: ts.Language
    gaps: ts.Query
    bodies: ts.Query
    trivia: ts.Query
    invalid: ts.Query
    blocks: ts.Query
    definitions: ts.Query  # what other documents may name: functions, classes, types
    imports: ts.Query
    placeholder: str


@cache
def grammar(language_id: str) -> Grammar:
    spec = LANGUAGES.get(language_id)
    if spec is None:
        raise UnsupportedLanguage(language_id)
    lang = ts.Language(spec.language())
    q = {name: ts.Query(lang, query_source(spec.folder, name)) for name in QUERIES}
    return Grammar(
        spec.folder,
        lang,
        q["gaps"],
        q["bodies"],
        q["trivia"],
        q["invalid"],
        q["blocks"],
        q["definitions"],
        q["imports"],
        spec.placeholder,
    )


def captured(query: ts.Query, node: ts.Node, name: str) -> list[ts.Node]:
    """The nodes a query captures under `name` in the subtree of `node`, in document order (outer
    before inner). py-tree-sitter's own order is not that, nor the same from one call to the next:
    the bench's held-out typing positions (lsp/eval/measure.py body_cases), drawn from these, changed
    between runs. (The gate calibration sorts its lines itself, so its draw never did.)"""
    found = ts.QueryCursor(query).captures(node).get(name, [])
    return sorted(found, key=lambda n: (n.start_byte, -n.end_byte))


def parse(language_id: str, text: str) -> ts.Tree:
    return ts.Parser(grammar(language_id).language).parse(text.encode("utf-8"))


def error_nodes(tree: ts.Tree, language_id: str) -> list[ts.Node]:
    """ERROR and MISSING nodes, outermost only, and the nodes the language's invalid.scm names
    (what tree-sitter's lenient grammar accepts but the language does not)."""
    found = captured(grammar(language_id).invalid, tree.root_node, "invalid")
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            found.append(node)
        elif node.has_error:
            stack.extend(node.children)
    return found


@lru_cache(maxsize=4)  # the unchanged document is checked once per gap, not once per candidate
def _python_error_line(text: str) -> int | None:
    """The line (1-based) of CPython's first syntax error, None when it parses; ast.parse never runs code."""
    try:
        ast.parse(text)
    except SyntaxError as exc:
        return exc.lineno or 1
    except (ValueError, RecursionError, MemoryError):
        return 1
    return None


# A language's own parser, where this process has one: tree-sitter's grammars are lenient (it
# accepts `"""doc"""name`, empty blocks and some bad dedents), so the strict parser has the last
# word: a document it accepted must still pass, and in one it rejected (say, a block whose only
# line is the gap) the insertion may not move the first error into or before itself.
# Candidates are checked in their region (lsp/fill/region.py), so this parses the statements
# around a gap, not the file; skipped for a text over STRICT_LIMIT characters (a 10 MB file took
# CPython 24 s).
STRICT_PARSERS = {"python": _python_error_line}
STRICT_LIMIT = 300_000


def strictly_clean(language_id: str, text: str) -> bool:
    """The language's own parser accepts the whole text (true where we have none, or it is too long)."""
    strict = STRICT_PARSERS.get(language_id)
    return strict is None or len(text) > STRICT_LIMIT or strict(text) is None


def _strict_allows(language_id: str, before: str, after: str, start: int, end: int) -> bool:
    strict = STRICT_PARSERS.get(language_id)
    if strict is None or len(after) > STRICT_LIMIT:
        return True
    error_after = strict(after)
    if error_after is None:
        return True
    error_before = strict(before)
    if error_before is None:
        return False
    old_end = end + len(before) - len(after)  # where the replaced text ended in `before`
    first_line, last_line = after.count("\n", 0, start) + 1, after.count("\n", 0, end) + 1
    if error_after < first_line:
        return error_after == error_before  # an error above the gap, there before
    added = after.count("\n", start, end) - before.count("\n", start, old_end)
    return error_after > last_line and error_after - added == error_before


def insertion_parses(
    language_id: str,
    before: str,
    after: str,
    start: int,
    end: int,
    tree: ts.Tree | None = None,
    before_tree: ts.Tree | None = None,
) -> bool:
    """Whether `after` (= `before` with text inserted at chars [start, end)) parses in context.

    A clean result always passes. In a document that was already broken elsewhere, the insertion
    passes when it adds no error node and no error node sits inside it or across its edges (an
    error node that encloses the whole insertion and more was there before). `tree` is `after`
    already parsed, and `before_tree` `before`, when the caller has them.
    """
    errors = error_nodes(tree or parse(language_id, after), language_id)
    if not _strict_allows(language_id, before, after, start, end):
        return False
    if not errors:
        return True
    if len(errors) > len(error_nodes(before_tree or parse(language_id, before), language_id)):
        return False
    index = ByteIndex(after)
    s, e = index.to_byte(start), index.to_byte(end)
    return all(n.end_byte <= s or n.start_byte >= e or (n.start_byte < s and n.end_byte > e) for n in errors)


class ByteIndex:
    """Converts between character offsets (what `lsp/` uses) and UTF-8 byte offsets (tree-sitter)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.data = text.encode("utf-8")
        self.ascii = len(self.data) == len(text)

    def to_char(self, byte: int) -> int:
        return byte if self.ascii else len(self.data[:byte].decode("utf-8", errors="replace"))

    def to_byte(self, char: int) -> int:
        return char if self.ascii else len(self.text[:char].encode("utf-8"))
