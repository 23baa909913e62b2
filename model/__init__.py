"""The model: a bidirectional transformer that fills gaps in code by masked diffusion.

The flat modules are the model itself, read top to bottom:
- transformer: the architecture (Qwen2 layout, bidirectional, optional key/value cache).
- attention: the attention kernels (FlashAttention 2 varlen on CUDA, torch SDPA elsewhere).
- families: how each checkpoint family names its config keys and tensors.
- checkpoint: loading and saving Hugging Face-layout folders (safetensors only).
- weights: safetensors headers checked, then each tensor read straight to its device and dtype.
- devices: `auto` resolved to CUDA, MPS or CPU; checkpoints too large for the device refused.
- tokenizer: the code tokenizer (ours, or a checkpoint folder's via `load_tokenizer`).
- hub_tokenizer: a folder's tokenizer files read, slow Qwen2 files (vocab.json + merges.txt) made fast.
- special_tokens: the special ids (mask, null, eos, bos, pad) and what each family does with them.
- layout: where a fill's gap or holes sit in the context window (window fitting, one copy).
- sampler: masked-diffusion decoding: unmask by confidence, then re-mask and refine.
- engine: the interface every engine offers the worker (a fill request in, ranked candidates
  out) and `load_engine`, which picks the engine by the checkpoint's family.
- masked_engine: the masked-diffusion engine (layout + sampler over one transformer). The
  block-diffusion engine (DiffusionGemma) will sit beside it as block_engine.

Subpackages: wire (what lsp/ may import: protocol, endpoint, options, client; torch-free),
serve (`fillgap worker`), train (`fillgap train`), bench (decode throughput).
The flat modules may import torch, safetensors, tokenizers and model.wire, never a subpackage
other than model.wire: the subpackages import them.
"""
