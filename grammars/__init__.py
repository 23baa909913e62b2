"""Per-language tree-sitter queries, one folder per language (`python/gaps.scm`, ...).

Data only: `lsp.fill.syntax` reads these files; the grammars themselves come from PyPI wheels.
"""

from pathlib import Path

ROOT = Path(__file__).parent


def query_source(language: str, name: str) -> str:
    return (ROOT / language / f"{name}.scm").read_text()
