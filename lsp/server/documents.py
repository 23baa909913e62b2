"""Documents whose lines end where LSP says: at \\r\\n, \\r or \\n, and nowhere else.

pygls's TextDocument splits lines with str.splitlines, which also ends a line at a form feed
(CPython's own sources have them), \\v, \\x1c-\\x1e, \\x85, U+2028 and U+2029. Every position the
client sends after such a character then lands on the wrong line: incremental edits were applied
to other text than the editor's, and suggestions were placed on other lines. These classes count
lines the client's way; the workspace makes them for every opened document.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pygls.workspace import TextDocument, Workspace

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def lsp_lines(text: str) -> list[str]:
    """The lines of `text` with their line breaks, as LSP counts them (no empty last line)."""
    return _LINE.findall(text)


class LspTextDocument(TextDocument):
    @property
    def lines(self) -> Sequence[str]:
        return tuple(lsp_lines(self.source))


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
