"""`fillgap cluster`: the worker on Ray Serve, for a team's GPUs (or a CPU machine, for tests).

- app: what a cluster serves (`ClusterSpec`, a `ModelSpec` per model) and deploying it.
- replica: one replica of a model: the worker's engine and continuous batcher in a Serve replica.
- gateway: the one HTTP entry: token, routing by the model a fill names, one retry when a replica
  dies under a fill, status.
- board: the actor replicas post their counters to, for status.
- scaling: the autoscaling policy (queue length, then latency).
- cli: `fillgap cluster up | down | status`.

May import ray, starlette (Serve's), `model.serve` (the batcher, the loader) and `model.wire`.
Nothing in lsp imports this package (the layout test bans ray there): servers reach a cluster over
HTTP (lsp/worker/cluster.py).
"""
