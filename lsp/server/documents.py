"""Documents whose lines end where LSP says: at \\r\\n, \\r or \\n, and nowhere else, and whose
position conversions cost a line, not the document.

pygls's TextDocument splits lines with str.splitlines, which also ends a line at a form feed
(CPython's own sources have them), \\v, \\x1c-\\x1e, \\x85, U+2028 and U+2029. Every position the
client sends after such a character then lands on the wrong line: incremental edits were applied
to other text than the editor's, and suggestions were placed on other lines. These classes count
lines the client's way; the workspace makes them for every opened document.

pygls also splits the whole text into lines for every position it converts and every edit it
applies (about a second each in a 10 MB file). `LspTextDocument` keeps the offsets where lines
start instead: made once per opened text, patched around each incremental edit, and looked up by
bisection; an edit is one string splice.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence

from lsprotocol import types
from pygls.workspace import TextDocument, Workspace

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")
_BREAK = re.compile(r"\r\n|\r|\n")


def lsp_lines(text: str) -> list[str]:
    """The lines of `text` with their line breaks, as LSP counts them (no empty last line)."""
    return _LINE.findall(text)


def line_starts(text: str, start: int = 0, end: int | None = None) -> list[int]:
    """Offsets just past each line break in text[start:end]."""
    return [m.end() for m in _BREAK.finditer(text, start, len(text) if end is None else end)]


class LspTextDocument(TextDocument):
    _starts: list[int] | None = None  # 0, then the offset after each line break (a last, empty line included)
    _starts_of: str | None = None  # the source `_starts` was made for

    def starts(self) -> list[int]:
        source = self.source
        if self._starts is None or self._starts_of is not source:
            self._starts, self._starts_of = [0, *line_starts(source)], source
        return self._starts

    @property
    def lines(self) -> Sequence[str]:
        return tuple(lsp_lines(self.source))

    def row_count(self) -> int:
        """Lines a position may be on: the LSP lines, and one more after a final line break."""
        return len(self.starts())

    def row_text(self, row: int) -> str:
        """Line `row` with its line break."""
        starts, source = self.starts(), self.source
        return source[starts[row] : starts[row + 1] if row + 1 < len(starts) else len(source)]

    def offset_at_position(self, client_position: types.Position) -> int:
        starts, source = self.starts(), self.source
        lines = len(starts) - (starts[-1] == len(source))  # pygls's lines: no empty last one
        if lines == 0:
            return 0
        if client_position.line >= lines:
            return len(source)
        line = self.row_text(client_position.line)
        at = types.Position(line=0, character=client_position.character)
        return starts[client_position.line] + self.position_codec.position_from_client_units([line], at).character

    def client_position_at_offset(self, offset: int) -> types.Position:
        starts, source = self.starts(), self.source
        if offset >= len(source):  # as pygls answers: the line after the last
            return types.Position(line=len(starts) - (starts[-1] == len(source)), character=0)
        row = bisect_right(starts, offset) - 1
        line = self.row_text(row)
        return types.Position(line=row, character=self.position_codec.client_num_units(line[: offset - starts[row]]))

    def _apply_incremental_change(self, change: types.TextDocumentContentChangePartial) -> None:
        old, starts = self.source, self.starts()
        start = self.offset_at_position(change.range.start)
        end = max(start, self.offset_at_position(change.range.end))
        new = old[:start] + change.text + old[end:]
        # Lines are found again from the line before the edit (a \r there may now meet a \n) to
        # the end of the edit's last line; those after only move.
        low = max(bisect_right(starts, start) - 2, 0)
        high = bisect_right(starts, end)  # the first line starting after the edit
        delta = len(change.text) - (end - start)
        window_end = (starts[high] + delta) if high < len(starts) else len(new)
        inner = [s for s in line_starts(new, starts[low], window_end) if high == len(starts) or s < window_end]
        self._starts = starts[: low + 1] + inner + [s + delta for s in starts[high:]]
        self._source = self._starts_of = new


class LspWorkspace(Workspace):
    def _create_text_document(
        self,
        doc_uri: str,
        source: str | None = None,
        version: int | None = None,
        language_id: str | None = None,
    ) -> TextDocument:
        return LspTextDocument(
            doc_uri,
            source=source,
            version=version,
            language_id=language_id,
            sync_kind=self._sync_kind,
            position_codec=self._position_codec,
        )
