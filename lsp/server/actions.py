"""Code actions: "Fill body", "Fill all gaps in file" and "Rewrite selection".

Listing is instant (one tree-sitter query); the model runs only in `codeAction/resolve`. Each
action remembers the document version it was listed for, and its edit is a `WorkspaceEdit`
against that version: if the text changed in between, resolving fails with ContentModified and
a client applying an edit checks the version too, so an edit can never land on other text.
"""

from __future__ import annotations

from dataclasses import dataclass

import tree_sitter as ts
from lsprotocol import types

from lsp.fill.gaps import Budgets, Gap, line_end, line_start, placeholder_gaps

FILL_BODY = "Fill body"
FILL_ALL = "Fill all gaps in file"
REWRITE = "Rewrite selection"
REFINE = "Refine selection"
REFINE_BELOW = 0.1  # "Refine selection" rewrites the tokens the model gives less than this probability
CHARS_PER_TOKEN = 3.0  # rough, for sizing a rewrite's budgets from its text without a tokenizer


@dataclass(frozen=True)
class ActionData:
    """What `codeAction/resolve` needs, carried in the action's `data` field."""

    uri: str
    version: int
    action: str  # "body", "all", "rewrite" or "refine"
    start: int  # character offsets into the document at `version`
    end: int


def _action(title: str, data: ActionData) -> types.CodeAction:
    return types.CodeAction(
        title=title,
        kind=types.CodeActionKind.RefactorRewrite,
        data={"uri": data.uri, "version": data.version, "action": data.action, "start": data.start, "end": data.end},
    )


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
    gaps = placeholder_gaps(language_id, text, budgets, tree)
    first, last = line_start(text, start), line_end(text, end)
    actions = [
        _action(FILL_BODY, ActionData(uri, version, "body", g.start, g.end))
        for g in gaps
        if g.start <= last and g.end >= first
    ]
    if gaps:
        actions.append(_action(f"{FILL_ALL} ({len(gaps)})", ActionData(uri, version, "all", 0, len(text))))
    if end > start and text[start:end].strip():
        actions.append(_action(REWRITE, ActionData(uri, version, "rewrite", start, end)))
        actions.append(_action(REFINE, ActionData(uri, version, "refine", start, end)))
    return actions


def parse_data(data: object) -> ActionData:
    """The action's data back, checked (it comes from the client)."""
    if not isinstance(data, dict):
        raise ValueError("code action data must be an object")
    try:
        parsed = ActionData(
            str(data["uri"]), int(data["version"]), str(data["action"]), int(data["start"]), int(data["end"])
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed code action data: {exc}") from exc
    if parsed.action not in ("body", "all", "rewrite", "refine") or not 0 <= parsed.start <= parsed.end:
        raise ValueError(f"malformed code action data: {data}")
    return parsed


def rewrite_gap(text: str, start: int, end: int) -> Gap:
    """The selection as a gap whose budgets bracket its current length."""
    n = max(4, int(len(text[start:end]) / CHARS_PER_TOKEN))
    before = text[line_start(text, start) : start]
    indent = before if not before.strip() else before[: len(before) - len(before.lstrip())]
    kind = "lines" if "\n" in text[start:end] else "line"
    return Gap(kind, start, end, indent, tuple(sorted({max(4, int(n * 0.75)), n, int(n * 1.5)})))


def workspace_edit(uri: str, version: int, replacements: list[tuple[types.Range, str]]) -> types.WorkspaceEdit:
    """Edits against exactly this version of the document."""
    edits: list[types.TextEdit | types.AnnotatedTextEdit | types.SnippetTextEdit] = [
        types.TextEdit(range=r, new_text=t) for r, t in replacements
    ]
    doc_id = types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version)
    return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(text_document=doc_id, edits=edits)])
