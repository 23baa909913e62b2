"""Context from other open documents: the headers of the definitions a gap's code names.

A gap that calls `area(...)` defined in another open file is easier to fill knowing its
signature. For every other open document of the same language, the definitions (queries in
`grammars/<lang>/definitions.scm`) whose names occur near the gap are kept as header lines
(the body cut off), with that document's imports, under a comment naming the file. The worker
places this text before the prefix, separated as another file, within a share of its window.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote, urlparse

import tree_sitter as ts

from lsp.fill.syntax import ByteIndex, captured, grammar

NEAR_CHARS = 1500  # text each side of the gap whose names count
MAX_CHARS = 1200  # all the context, in characters; the worker still caps it in tokens
HEADER_CHARS = 240  # one definition's header at most
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_COMMENT = {"python": "#"}


@dataclass(frozen=True)
class OpenDocument:
    uri: str
    language: str
    text: str
    tree: ts.Tree


def names_near(text: str, start: int, end: int) -> set[str]:
    """Identifiers in the text around a gap (keywords included; they match no definition)."""
    return set(_NAME.findall(text[max(0, start - NEAR_CHARS) : end + NEAR_CHARS]))


def _header(doc: OpenDocument, definition: ts.Node, body: ts.Node | None, index: ByteIndex) -> str:
    end = body.start_byte if body is not None and body.start_byte > definition.start_byte else definition.end_byte
    text = index.data[definition.start_byte : end].decode("utf-8", errors="replace").rstrip()
    if len(text) > HEADER_CHARS:
        text = text[:HEADER_CHARS].rsplit("\n", 1)[0]
    return text + (" ..." if doc.language == "python" else " { ... }" if body is not None else "")


def definitions_named(doc: OpenDocument, names: set[str]) -> list[str]:
    """Headers of the document's definitions whose names are in `names`, in document order."""
    index = ByteIndex(doc.text)
    found = []
    for _, caps in ts.QueryCursor(grammar(doc.language).definitions).matches(doc.tree.root_node):
        name = caps.get("name", [None])[0]
        definition = caps.get("definition", [None])[0]
        if name is None or definition is None or name.text is None:
            continue
        if name.text.decode("utf-8", errors="replace") in names:
            body = caps.get("body", [None])[0]
            found.append((definition.start_byte, _header(doc, definition, body, index)))
    return [h for _, h in sorted(found)]


def _imports(doc: OpenDocument) -> list[str]:
    index = ByteIndex(doc.text)
    nodes = captured(grammar(doc.language).imports, doc.tree.root_node, "import")
    return [index.data[n.start_byte : n.end_byte].decode("utf-8", errors="replace") for n in nodes]


def _file_name(uri: str) -> str:
    return PurePosixPath(unquote(urlparse(uri).path)).name or uri


def related_context(language: str, text: str, start: int, end: int, others: Iterable[OpenDocument]) -> str:
    """The context block for a gap at text[start:end]; '' when no other document defines a name used near it."""
    names = names_near(text, start, end)
    comment = _COMMENT.get(language, "//")
    parts: list[str] = []
    size = 0
    for doc in others:
        if doc.language != language:
            continue
        headers = definitions_named(doc, names)
        if not headers:
            continue
        block = "\n".join([f"{comment} {_file_name(doc.uri)}", *_imports(doc), *headers]) + "\n"
        if size + len(block) > MAX_CHARS:
            break
        parts.append(block)
        size += len(block)
    return "\n".join(parts)
