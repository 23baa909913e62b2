"""Editor-independent fill logic: what to fill, how to fill it, and what is worth showing.

- `pipeline`: one gap filled: candidates from the worker -> clean -> parse -> repair -> resample
  -> cut; the `Suggestion` it yields, joint fills and refinement.
- `gaps`: the gap at a cursor and the placeholder bodies of a file, with their length budgets.
- `syntax`: the grammars and queries of each language; `trees`: incremental re-parsing of an
  edited tree; `postprocess`: the clean-up filters and the check in context; `context`: other
  open documents' definitions as context.
- `actions`: what each code action fills; `cache`: suggestions kept per document (typed through,
  shown, accepted); `snippets`: tab stops and escaping; `settings`: the server's settings.

Knows nothing of JSON-RPC or the editor: positions here are character offsets into a text.
May import tree-sitter, lsp.worker (the client a fill is sent through) and model.wire; never
pygls or lsprotocol (those are lsp.server's), nor lsp.server, lsp.eval, lsp.bench or lsp.cli.
"""
