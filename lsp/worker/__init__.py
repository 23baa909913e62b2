"""The server's side of the model worker: how to reach one and how to talk to it.

- `connectors`: a private child, the user's shared daemon (started when nobody listens), or a
  remote worker; each opens a link and says which worker it reaches.
- `client`: the asynchronous client the server fills through (reconnects, backs off, drops a hung
  worker, cancels what the editor no longer waits for).
- `settings`: `WorkerSettings`, which worker and how long a fill may take (the one deadline default).

May import: the standard library, asyncio, and from `model` only `model.wire` (protocol, endpoint,
options). Never torch, and never `lsp.eval`, `lsp.bench` or `lsp.cli`.
"""
