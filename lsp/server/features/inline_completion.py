"""textDocument/inlineCompletion: the fill at the cursor as ghost text, one item on one line.

With a completion popup open, the popup's selected item is taken as accepted and the fill after it
is offered as one item covering both. Accepting an item runs `fillgap.accepted` (features/commands.py).
"""

from __future__ import annotations

from lsprotocol import types
from pygls.workspace import TextDocument

from lsp.fill.gate import all_scores
from lsp.fill.pipeline import Suggestion
from lsp.fill.snippets import line_indent, relative_to, with_tab_stops
from lsp.server.positions import document_at
from lsp.server.state import FillgapServer
from lsp.server.suggest import suggest


def register(server: FillgapServer) -> None:
    server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())(inline_completion)


async def inline_completion(ls: FillgapServer, params: types.InlineCompletionParams) -> types.InlineCompletionList:
    doc = document_at(ls.workspace, params.text_document.uri, params.position)
    text, offset = doc.source, doc.offset_at_position(params.position)
    automatic = params.context.trigger_kind == types.InlineCompletionTriggerKind.Automatic
    selected = params.context.selected_completion_info
    if selected is not None:
        return await _after_selected_item(ls, doc, selected, automatic)
    suggestion = await suggest(ls, doc, offset, automatic)
    if suggestion is None or doc.source != text:
        return types.InlineCompletionList(items=[])  # nothing, or computed for text that changed since
    return inline_items(ls, doc, suggestion.gap.start, suggestion.gap.end, suggestion.text, suggestion)


async def _after_selected_item(
    ls: FillgapServer, doc: TextDocument, selected: types.SelectedCompletionInfo, automatic: bool
) -> types.InlineCompletionList:
    """The popup's selected item as if accepted, and the fill after it: one item covering both."""
    text = doc.source
    s0, s1 = doc.offset_at_position(selected.range.start), doc.offset_at_position(selected.range.end)
    virtual = text[:s0] + selected.text + text[s1:]
    cursor = s0 + len(selected.text)
    shadow = TextDocument(doc.uri, virtual, language_id=doc.language_id)
    suggestion = await suggest(ls, shadow, cursor, automatic)
    if suggestion is None or doc.source != text or suggestion.gap.start < cursor:
        return types.InlineCompletionList(items=[])
    shift = len(selected.text) - (s1 - s0)
    insert = virtual[s0 : suggestion.gap.start] + suggestion.text
    return inline_items(ls, doc, s0, suggestion.gap.end - shift, insert, suggestion)


def inline_items(
    ls: FillgapServer, doc: TextDocument, start: int, end: int, insert: str, suggestion: Suggestion
) -> types.InlineCompletionList:
    """`insert` in place of doc.source[start:end] (character offsets), counted as shown, with the
    suggestion's doubtful spans as tab stops for a snippet client; nothing when the range spans lines."""
    first, last = doc.client_position_at_offset(start), doc.client_position_at_offset(end)
    if first.line != last.line:
        return types.InlineCompletionList(items=[])  # LSP 3.18: an inline item's range stays on one line
    ls.cache.shown(doc.uri, doc.source, suggestion)
    text: str | types.StringValue = insert
    if ls.snippets and suggestion.doubts and insert.endswith(suggestion.text):
        text = _snippet(doc.source, start, insert, suggestion) or insert
    item = types.InlineCompletionItem(
        insert_text=text,
        range=types.Range(first, last),
        filter_text=doc.source[start:end] or None,
        # The gate's scores and how the fill came about ride along (the eval reads them);
        # fillgap.accepted reads only the uri.
        command=types.Command(
            "fillgap: accepted", "fillgap.accepted", arguments=[doc.uri, all_scores(suggestion), _facts(suggestion)]
        ),
    )
    return types.InlineCompletionList(items=[item])


def _snippet(source: str, start: int, insert: str, suggestion: Suggestion) -> types.StringValue | None:
    """`insert` with the suggestion's doubtful spans as tab stops, its new lines relative to the line's
    indentation, which the client puts back; None when a line is shallower (plain text then)."""
    shift = len(insert) - len(suggestion.text)
    doubts = tuple((a + shift, b + shift) for a, b in suggestion.doubts)
    relative = relative_to(line_indent(source, start), insert, doubts)
    return types.StringValue(with_tab_stops(*relative)) if relative is not None else None


def _facts(suggestion: Suggestion) -> dict[str, object]:
    """How the fill came about (lsp/fill/pipeline.py Outcome.how), and whether the model's top
    candidate parsed as written, before repair or resampling."""
    return {"how": suggestion.how, "top_parsed": suggestion.top_parsed}
