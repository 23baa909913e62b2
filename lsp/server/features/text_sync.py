"""textDocument/didOpen, didChange and didClose: pygls keeps the documents (incremental sync); these
keep each document's tree current and drop a closed document's cached suggestions."""

from __future__ import annotations

from lsprotocol import types

from lsp.server.state import FillgapServer


def register(server: FillgapServer) -> None:
    server.feature(types.TEXT_DOCUMENT_DID_OPEN)(did_open)
    server.feature(types.TEXT_DOCUMENT_DID_CHANGE)(did_change)
    server.feature(types.TEXT_DOCUMENT_DID_CLOSE)(did_close)


def did_open(ls: FillgapServer, params: types.DidOpenTextDocumentParams) -> None:
    item = params.text_document
    ls.trees.open(item.uri, item.language_id, item.text, ls.workspace.position_codec)


def did_change(ls: FillgapServer, params: types.DidChangeTextDocumentParams) -> None:
    ls.trees.change(params.text_document.uri, params.content_changes)


def did_close(ls: FillgapServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.cache.forget(params.text_document.uri)
    ls.trees.close(params.text_document.uri)
