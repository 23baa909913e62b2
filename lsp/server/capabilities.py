"""What the client said it takes, in the places fillgap asks."""

from __future__ import annotations

from lsprotocol import types


def client_takes_snippets(caps: types.ClientCapabilities) -> bool:
    """LSP 3.18 has no inline-completion snippet flag; completion's snippetSupport is the client's word."""
    item = caps.text_document and caps.text_document.completion and caps.text_document.completion.completion_item
    return bool(item and item.snippet_support)


def client_takes_progress(caps: types.ClientCapabilities) -> bool:
    """The client creates window/workDoneProgress tokens when the server asks."""
    return bool(caps.window and caps.window.work_done_progress)
