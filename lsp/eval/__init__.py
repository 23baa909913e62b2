"""Measuring fills from outside the server, as an editor would see them.

- `tasks`, `sandbox`, `harness`, `command`, `chart`: `fillgap eval`, HumanEval infilling through
  the server (or straight to a worker): tasks made of the problems, fills, tests run in isolation.
- `measure`: `fillgap measure`, blanked function bodies of real files and how their fills parse.
- `client`: the scripted LSP client that eval, bench and the tests drive `fillgap serve` with.

May import: the standard library, pygls, lsprotocol, tree-sitter, the rest of `lsp`, and from
`model` only `model.wire` (the HumanEval loader, options, percentiles); matplotlib for the chart.
Never torch. The server's packages never import this one.
"""
