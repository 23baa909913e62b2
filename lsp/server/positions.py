"""A request's document and position, checked before any work: a document that is not open or a
position outside it is answered with InvalidParams, not guessed at."""

from __future__ import annotations

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.workspace import TextDocument, Workspace

from lsp.server.documents import LspTextDocument, lsp_lines


def open_document(workspace: Workspace, uri: str) -> TextDocument:
    if uri not in workspace.text_documents:
        raise JsonRpcInvalidParams(f"document {uri} is not open")
    return workspace.get_text_document(uri)


def line_length(line: str, encoding: str | None) -> int:
    """Length of a line in the position units the client and server agreed on (UTF-16 by default)."""
    if encoding == types.PositionEncodingKind.Utf8:
        return len(line.encode("utf-8"))
    if encoding == types.PositionEncodingKind.Utf32:
        return len(line)
    return len(line.encode("utf-16-le")) // 2


def check_position(doc: TextDocument, pos: types.Position, encoding: str | None) -> None:
    if isinstance(doc, LspTextDocument):  # its line index: a line's cost, not the document's
        count, line = doc.row_count(), (doc.row_text(pos.line) if 0 <= pos.line < doc.row_count() else "")
    else:
        lines = lsp_lines(doc.source) + [""]  # the position just past a final line break is on a line of its own
        if doc.source and not doc.source.endswith(("\n", "\r")):
            lines.pop()
        count, line = len(lines), (lines[pos.line] if 0 <= pos.line < len(lines) else "")
    if pos.line < 0 or pos.character < 0 or pos.line >= count:
        raise JsonRpcInvalidParams(f"position {pos.line}:{pos.character} is outside the document ({count} lines)")
    if pos.character > line_length(line.rstrip("\r\n"), encoding):
        raise JsonRpcInvalidParams(f"position {pos.line}:{pos.character} is past the end of its line")


def document_at(workspace: Workspace, uri: str, *positions: types.Position) -> TextDocument:
    """The open document `uri`, with every position checked to lie inside it."""
    doc = open_document(workspace, uri)
    for pos in positions:
        check_position(doc, pos, workspace.position_encoding)
    return doc
