"""`fillgap train`: train a masked-diffusion checkpoint from source folders, resumably.

- cli: the flags and `main` (`python -m model.train.cli`); options: the run's options and their
  defaults, declared once (the parser reads them).
- objective: the masked-diffusion objective (mask ratio, span infills, losses, the AR warm start).
- loop: the run in steps: build, resume, step, evaluate (held-out loss), save.
- corpus: which source files, and the train / held-out split; decontaminate: the HumanEval leak
  check; plot: the loss curve.

May import torch, numpy, safetensors, model's flat modules (transformer, tokenizer, checkpoint,
families) and model.wire (the one HumanEval loader). Never lsp, model.serve or model.bench:
those import it (the benches read the corpus), not the other way round.
"""
