"""Documented top-level Python functions cut out of the training files, each its own small document.

The commonest thing users ask of the server is a function's body, or a line of it, under a
docstring that says what it does. Library code holds many such functions, but each sits among
classes, `self.` calls and module plumbing. So each one is also offered as a file of its own: the
imports it uses, then the function. These documents are taken from training files only, so the
held-out files stay unseen, and `--functions N` repeats them N times in the training stream.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from model.train.corpus import SourceFile

MAX_LINES = 60  # longer functions are mostly plumbing; the gaps users leave are shorter


def _bound_names(node: ast.Import | ast.ImportFrom) -> set[str]:
    return {(a.asname or a.name).split(".")[0] for a in node.names}


def _used_names(fn: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)}


def _stub(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Pass | ast.Raise) or (
        isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)
    )


Function = ast.FunctionDef | ast.AsyncFunctionDef


def _first_line(fn: Function) -> int:
    return fn.decorator_list[0].lineno if fn.decorator_list else fn.lineno


def _documented(fn: Function) -> bool:
    """A function with a docstring, a real body after it, and short enough to be a task."""
    if ast.get_docstring(fn) is None:
        return False
    if all(_stub(s) for s in fn.body[1:]):
        return False  # nothing after the docstring, or `pass`, `...`, `raise NotImplementedError`: a stub
    return (fn.end_lineno or fn.lineno) - _first_line(fn) + 1 <= MAX_LINES


def function_documents(text: str) -> list[str]:
    """Each documented top-level function of a module, with the module's imports it names."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    lines = re.split(r"\r\n|\r|\n", text)  # as ast counts lines: str.splitlines also breaks at form feeds
    imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    docs = []
    for fn in tree.body:
        if not isinstance(fn, Function) or not _documented(fn):
            continue
        used = _used_names(fn)
        named = [ast.get_source_segment(text, n) for n in imports if _bound_names(n) & used]
        header = "\n".join(dict.fromkeys(seg for seg in named if seg))  # each import once, in order
        source = "\n".join(lines[_first_line(fn) - 1 : fn.end_lineno])
        docs.append((header + "\n\n\n" if header else "") + source + "\n")
    return docs


PREFIX = "functions/"  # the relative names of these documents start with it


def function_files(files: list[SourceFile], repeat: int) -> list[SourceFile]:
    """The documented functions of the Python `files`, one document each, `repeat` times over."""
    docs = [
        SourceFile(f.path, f"{PREFIX}{f.rel}#{k}", doc)
        for f in files
        if Path(f.rel).suffix == ".py"
        for k, doc in enumerate(function_documents(f.text))
    ]
    return docs * repeat
