"""`fillgap bench` and `fillgap bench-lsp`: speed and memory, measured from outside the server.

- `command`: the whole bench, its table, JSON and chart; the decode part runs in a child process
  (`python -m model.bench.decode`), so this process never loads torch.
- `e2e`: cold start, typing replay and invoked fills through a real LSP client, and memory.
- `initialize`: `initialize` latency of `fillgap serve` beside a bare pygls server.

May import: the standard library, pygls, lsprotocol, `lsp.eval` (its client and cases), and from
`model` only `model.wire`. Never torch. The server's packages never import this one.
"""
