"""What the code actions fill: "Fill body", "Fill all gaps in file", "Rewrite selection" and
"Refine selection", as plain data.

Listing is instant (one tree-sitter query); the model runs only when an action is resolved. Each
action carries `ActionData` (through the client, in the action's `data` field): the document
version it was listed for and the character range it covers, so the edit made later can be checked
against that very version. The LSP shapes (CodeAction, WorkspaceEdit) are lsp/server/actions.py's.
"""

from __future__ import annotations

from dataclasses import dataclass

import tree_sitter as ts

from lsp.fill.gaps import Budgets, Gap, line_end, line_start, placeholder_gaps, placeholders_near

FILL_BODY = "Fill body"
FILL_ALL = "Fill all gaps in file"
REWRITE = "Rewrite selection"
REFINE = "Refine selection"
REFINE_BELOW = 0.1  # "Refine selection" rewrites the tokens the model gives less than this probability
CHARS_PER_TOKEN = 3.0  # rough, for sizing a rewrite's budgets from its text without a tokenizer
KINDS = ("body", "all", "rewrite", "refine")


@dataclass(frozen=True)
class ActionData:
    """What resolving an action needs, carried in the action's `data` field."""

    uri: str
    version: int
    action: str  # one of KINDS
    start: int  # character offsets into the document at `version`
    end: int

    def as_json(self) -> dict[str, object]:
        return {"uri": self.uri, "version": self.version, "action": self.action, "start": self.start, "end": self.end}


def available_actions(
    language_id: str,
    text: str,
    uri: str,
    version: int,
    start: int,
    end: int,
    budgets: Budgets,
    tree: ts.Tree | None = None,
) -> list[tuple[str, ActionData]]:
    """(title, data) of the actions for a range (character offsets): fill the body it touches,
    fill all, rewrite or refine it."""
    gaps = placeholder_gaps(language_id, text, budgets, tree)
    first, last = line_start(text, start), line_end(text, end)
    actions = [
        (FILL_BODY, ActionData(uri, version, "body", g.start, g.end))
        for g in gaps
        if g.start <= last and g.end >= first
    ]
    if gaps:
        actions.append((f"{FILL_ALL} ({len(gaps)})", ActionData(uri, version, "all", 0, len(text))))
    if end > start and text[start:end].strip():
        actions.append((REWRITE, ActionData(uri, version, "rewrite", start, end)))
        actions.append((REFINE, ActionData(uri, version, "refine", start, end)))
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
    if parsed.action not in KINDS or not 0 <= parsed.start <= parsed.end:
        raise ValueError(f"malformed code action data: {data}")
    return parsed


def rewrite_gap(text: str, start: int, end: int) -> Gap:
    """The selection as a gap whose budgets bracket its current length."""
    n = max(4, int(len(text[start:end]) / CHARS_PER_TOKEN))
    before = text[line_start(text, start) : start]
    indent = before if not before.strip() else before[: len(before) - len(before.lstrip())]
    kind = "lines" if "\n" in text[start:end] else "line"
    return Gap(kind, start, end, indent, tuple(sorted({max(4, int(n * 0.75)), n, int(n * 1.5)})))


def gaps_to_fill(data: ActionData, language_id: str, text: str, budgets: Budgets, tree: ts.Tree | None) -> list[Gap]:
    """The gaps a "body", "all" or "rewrite" action fills together (a refine rewrites in place)."""
    if data.action == "rewrite":
        return [rewrite_gap(text, data.start, data.end)]
    if data.action == "body":  # found in its own region: no query over the whole file
        near = placeholders_near(language_id, text, data.start, data.end, budgets, tree)
        return [g for g in near if g.start == data.start]
    return [
        g for g in placeholder_gaps(language_id, text, budgets, tree) if data.action == "all" or g.start == data.start
    ]


def body_on_line(language_id: str, text: str, at: int, tree: ts.Tree | None) -> Gap | None:
    """The first placeholder body that starts on the line beginning at offset `at`."""
    near = placeholders_near(language_id, text, at, line_end(text, at), tree=tree)
    on_line = [g for g in near if at <= g.start <= line_end(text, at)]
    return on_line[0] if on_line else None
