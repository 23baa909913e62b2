"""textDocument/completion: for clients without inline completion, the same fill as one multi-line item."""

from __future__ import annotations

from lsprotocol import types
from pygls.workspace import TextDocument

from lsp.fill.pipeline import Suggestion
from lsp.fill.snippets import escape, line_indent, relative_to
from lsp.server.capabilities import client_takes_snippets
from lsp.server.positions import document_at
from lsp.server.state import FillgapServer
from lsp.server.suggest import suggest

LABEL_CHARS = 60  # a longer first line is cut, with "...", in the popup


def register(server: FillgapServer) -> None:
    server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=[]))(completion)


async def completion(ls: FillgapServer, params: types.CompletionParams) -> types.CompletionList:
    """For clients without inline completion: the same fill as one multi-line item."""
    doc = document_at(ls.workspace, params.text_document.uri, params.position)
    version = doc.version
    suggestion = await suggest(ls, doc, doc.offset_at_position(params.position))
    if suggestion is None or doc.version != version:
        return types.CompletionList(is_incomplete=True, items=[])
    # A snippet client (Neovim's vim.lsp.completion, Helix, eglot with yasnippet) expands a snippet's
    # newlines on accept; as plain text several of them insert only the word typed so far.
    item = completion_item(doc, suggestion, client_takes_snippets(ls.client_capabilities))
    return types.CompletionList(is_incomplete=True, items=[item] if item is not None else [])


def completion_item(doc: TextDocument, suggestion: Suggestion, snippet: bool) -> types.CompletionItem | None:
    """The suggestion as an item replacing its gap; None when the gap spans lines."""
    gap = suggestion.gap
    start, end = doc.client_position_at_offset(gap.start), doc.client_position_at_offset(gap.end)
    if start.line != end.line:
        return None
    first = suggestion.text.strip().split("\n")[0]
    new_text = suggestion.text
    if snippet:  # the client indents each new line of a snippet to the gap's line: give it them relative
        relative = relative_to(line_indent(doc.source, gap.start), suggestion.text)
        if relative is None:
            return None  # a line shallower than the gap's: no snippet says that, and plain text would insert a word
        new_text = escape(relative[0])
    return types.CompletionItem(
        label=first if len(first) <= LABEL_CHARS else first[: LABEL_CHARS - 3] + "...",
        kind=types.CompletionItemKind.Snippet,
        detail=f"fillgap ({suggestion.text.count(chr(10)) + 1} lines, confidence {suggestion.confidence:.2f})",
        documentation=types.MarkupContent(types.MarkupKind.Markdown, f"```{doc.language_id}\n{suggestion.text}\n```"),
        text_edit=types.TextEdit(range=types.Range(start, end), new_text=new_text),
        filter_text=doc.source[gap.start : gap.end] or None,
        insert_text_format=types.InsertTextFormat.Snippet if snippet else types.InsertTextFormat.PlainText,
        # VS Code re-indents an item's new lines unless told otherwise; plain text is sent as written.
        insert_text_mode=types.InsertTextMode.AdjustIndentation if snippet else types.InsertTextMode.AsIs,
    )
