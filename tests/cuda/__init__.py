"""The CUDA check: real fills on a GPU (tests/cuda/check.py, also `python -m tests.cuda.check`).

Imports model (and torch); never lsp. test_cuda.py runs it under pytest where CUDA is present,
and its tiny part on the CPU everywhere, so the script cannot rot between GPU sessions.
"""
