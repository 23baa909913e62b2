"""`fillgap bench`'s model side: how fast the model decodes, run as its own process.

- decode: diffusion infilling's tokens/s against the autoregressive baseline, per gap length
  (`python -m model.bench.decode`, which `lsp/bench/command.py` runs in a child); the flags and
  the JSON it writes.
- autoregressive: that baseline: greedy decoding with a key/value cache, same weights.
- roofline: the fastest a decode could run on a device (memory and arithmetic bounds).
- concurrency: fills/s and latency with many documents on one batching worker.
- load_memory: peak memory of loading a checkpoint against its weights' bytes (a random 0.5B).
- cluster_load: a team's cluster under sustained load, 1 and 2 Ray Serve replicas (same threads).
- shape_cost: a wider or deeper model's cost per pass against the shipped shape, before training it.

May import torch, model's flat modules (transformer, sampler, checkpoint, tokenizer, attention),
model.train.corpus (the held-out code it decodes), model.cluster.local (a loopback Ray cluster)
and model.wire (flags, the blocking client).
Nothing imports it but `fillgap bench` and the tests.
"""
