"""`fillgap worker`: one process holding one engine, answering fills from every connection, batched.

- worker: the flags and `main` (`python -m model.serve.worker`): load the engine, then serve one
  client on stdio (a server's private child) or many as a daemon.
- daemon: the listening side (per-user Unix socket, TCP with a token), its lock and idle timeout.
- session: one connection: frames in, fills to the batcher, replies out; the worker's status.
- batcher: the queue and admission of fills into the shared batch, cancellation, deadlines.
- steploop: continuous batching itself: one padded forward pass per step for every running fill,
  split on out-of-memory; handed to each fill as the place its passes run.
- stats: latency and memory counters for status.

Engines are seen only through `model.engine`'s interface (`Engine`, `SharedPass`, `Passes`), so a
second architecture is served unchanged.
May import torch, `model.engine`, `model.checkpoint` (to resolve the model to load) and
`model.wire`. Never lsp, model.train or model.bench.
"""
