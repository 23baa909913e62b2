"""The language server: documents, syntax, gaps, and the LSP protocol.

Never imports torch. Talks to the model only through the worker protocol (`model.wire.protocol`).
"""

__version__ = "0.1.0"
