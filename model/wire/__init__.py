"""What the server and the worker share, torch-free, so `lsp/` can import it.

- `protocol`: the framed msgpack messages (fill, result, status, hello, progress, ...).
- `sampling`: the sampler settings a fill carries (each optional) and how they are resolved.
- `endpoint`: where a worker listens (per-user Unix sockets, TCP with a token) and its checks.
- `http`: the protocol over HTTP to a cluster (`model/cluster`): paths, the token header.
- `options`: `fillgap worker`'s options and flags, declared once, and the one worker command line.
- `client`: the one blocking client (status, benches, tests).
- `stats`: the one percentile (nearest rank).
- `humaneval`: the one HumanEval problem loader.

May import: the standard library and msgpack, and nothing from `model` outside `model.wire`.
Never torch, numpy or safetensors.
"""
