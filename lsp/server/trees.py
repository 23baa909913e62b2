"""Each open document's tree-sitter tree, kept current as the user types: every LSP content change
is applied with `Tree.edit` and the document re-parsed incrementally from the old tree, not from
scratch (the editing itself is lsp/fill/trees.py). Candidate checks use this tree only to find
their region (lsp/fill/region.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import tree_sitter as ts
from lsprotocol import types
from pygls.workspace import PositionCodec, TextDocument

from lsp.fill.context import OpenDocument
from lsp.fill.syntax import LANGUAGES, parse
from lsp.fill.trees import edited, reparse
from lsp.server.documents import LspTextDocument


@dataclass
class _Entry:
    language: str
    doc: TextDocument  # our own copy, kept in step with the editor's changes
    tree: ts.Tree


class DocumentTrees:
    """The open documents of the languages we parse, each with its text and its current tree."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self.full_parses = 0  # counted, so a test can see edits are incremental
        self.incremental_parses = 0

    def open(self, uri: str, language_id: str, text: str, codec: PositionCodec) -> None:
        if language_id not in LANGUAGES:
            return
        self.full_parses += 1
        doc = LspTextDocument(uri, text, language_id=language_id, position_codec=codec)
        self._entries[uri] = _Entry(language_id, doc, parse(language_id, text))

    def change(self, uri: str, changes: Sequence[types.TextDocumentContentChangeEvent]) -> None:
        entry = self._entries.get(uri)
        if entry is None:
            return
        tree = entry.tree
        for change in changes:
            text = entry.doc.source
            if isinstance(change, types.TextDocumentContentChangePartial):
                start = entry.doc.offset_at_position(change.range.start)
                end = entry.doc.offset_at_position(change.range.end)
                tree, _ = edited(tree, text, start, end, change.text)
            else:
                tree, _ = edited(tree, text, 0, len(text), change.text)
            entry.doc.apply_change(change)
        entry.tree = reparse(entry.language, tree, entry.doc.source)
        self.incremental_parses += 1

    def others(self, uri: str, language_id: str) -> list[OpenDocument]:
        """The open documents of this language but `uri`, for cross-file context."""
        return [
            OpenDocument(u, e.language, e.doc.source, e.tree)
            for u, e in self._entries.items()
            if u != uri and e.language == language_id
        ]

    def close(self, uri: str) -> None:
        self._entries.pop(uri, None)

    def tree(self, uri: str, language_id: str, text: str) -> ts.Tree:
        """The tree of `text`: the kept one when it is of this very text, else a fresh parse."""
        entry = self._entries.get(uri)
        if entry is not None and entry.language == language_id and entry.doc.source == text:
            return entry.tree
        self.full_parses += 1
        return parse(language_id, text)
