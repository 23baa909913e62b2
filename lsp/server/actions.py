"""Code actions as LSP shapes: the listed actions (lsp/fill/actions.py says which) as CodeActions,
and their edits as a WorkspaceEdit against the version they were listed for.

If the text changed in between, resolving fails with ContentModified (lsp/server/edits.py) and a
client applying an edit checks the version too, so an edit can never land on other text.
"""

from __future__ import annotations

import tree_sitter as ts
from lsprotocol import types

from lsp.fill.actions import ActionData, available_actions
from lsp.fill.gaps import Budgets


def code_action(title: str, data: ActionData) -> types.CodeAction:
    return types.CodeAction(title=title, kind=types.CodeActionKind.RefactorRewrite, data=data.as_json())


def list_actions(
    language_id: str,
    text: str,
    uri: str,
    version: int,
    start: int,
    end: int,
    budgets: Budgets,
    tree: ts.Tree | None = None,
) -> list[types.CodeAction]:
    """The actions for a range (character offsets): fill the body it touches, fill all, rewrite it."""
    return [code_action(t, d) for t, d in available_actions(language_id, text, uri, version, start, end, budgets, tree)]


def workspace_edit(uri: str, version: int, replacements: list[tuple[types.Range, str]]) -> types.WorkspaceEdit:
    """Edits against exactly this version of the document."""
    edits: list[types.TextEdit | types.AnnotatedTextEdit | types.SnippetTextEdit] = [
        types.TextEdit(range=r, new_text=t) for r, t in replacements
    ]
    doc_id = types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version)
    return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(text_document=doc_id, edits=edits)])
