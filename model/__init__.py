"""The engine: tokenizer, bidirectional transformer, masked-diffusion sampler, training, worker.

`model.wire.protocol` is the only module `lsp/` may import; it needs msgpack and nothing else.
Everything else here may import torch.
"""
