"""textDocument/codeAction and codeAction/resolve: listing is instant (one tree-sitter query), the
model runs only on resolve, against the document version the action was listed for."""

from __future__ import annotations

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from lsp.fill.actions import parse_data
from lsp.server.actions import list_actions
from lsp.server.edits import edit_for
from lsp.server.positions import check_position, open_document
from lsp.server.state import FillgapServer

OPTIONS = types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.RefactorRewrite], resolve_provider=True)


def register(server: FillgapServer) -> None:
    server.feature(types.TEXT_DOCUMENT_CODE_ACTION, OPTIONS)(code_actions)
    server.feature(types.CODE_ACTION_RESOLVE)(resolve_action)


def code_actions(ls: FillgapServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    doc = open_document(ls.workspace, params.text_document.uri)
    language = doc.language_id or ""
    if not ls.settings.fills(language):
        return []  # a language we do not fill: no actions, even for a range outside the text
    for pos in (params.range.start, params.range.end):
        check_position(doc, pos, ls.workspace.position_encoding)
    start, end = doc.offset_at_position(params.range.start), doc.offset_at_position(params.range.end)
    tree = ls.trees.tree(doc.uri, language, doc.source)
    return list_actions(language, doc.source, doc.uri, doc.version or 0, start, end, ls.settings.budgets, tree)


async def resolve_action(ls: FillgapServer, action: types.CodeAction) -> types.CodeAction:
    try:
        data = parse_data(action.data)
    except ValueError as exc:
        raise JsonRpcInvalidParams(str(exc)) from exc
    edit = await edit_for(ls, data)
    if edit is None:
        ls.window_show_message(
            types.ShowMessageParams(types.MessageType.Info, f"fillgap: nothing to offer for {action.title}")
        )
        return action
    action.edit = edit
    return action
