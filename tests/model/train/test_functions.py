"""Documented top-level functions as documents of their own (model/train/functions.py)."""

from __future__ import annotations

import ast
from pathlib import Path

from model.train.corpus import SourceFile, split
from model.train.functions import MAX_LINES, PREFIX, function_documents, function_files

MODULE = (
    '''"""A module."""
import os
import re as regex
from typing import List, Optional
from collections import abc


def words(text: str) -> List[str]:
    """The words of text, in order.

    >>> words("a b")
    ['a', 'b']
    """
    return regex.findall(r"\\w+", text)


def undocumented(x):
    return x + 1


def stub(x):
    """Not written yet."""
    raise NotImplementedError


def ellipsis(x):
    """Only a docstring and `...`."""
    ...


@staticmethod
def decorated(path):
    """The base name of path."""
    return os.path.basename(path)


class Box:
    def size(self):
        """A method: it leans on self, not what a standalone task looks like."""
        return self.n


def long_one():
    """Too long to be a task."""
'''
    + "    x = 1\n" * (MAX_LINES + 1)
)


def test_documented_top_level_functions_with_the_imports_they_use() -> None:
    docs = function_documents(MODULE)
    assert len(docs) == 2
    first, second = docs
    assert first.startswith("import re as regex\nfrom typing import List, Optional\n\n\ndef words(")
    assert "import os" not in first and "abc" not in first  # imports the function never names stay out
    assert first.endswith('return regex.findall(r"\\w+", text)\n')
    assert second.startswith("import os\n\n\n@staticmethod\ndef decorated(path):")  # decorators kept
    for doc in docs:
        ast.parse(doc)  # each document is a module of its own


def test_a_function_that_names_no_import_has_no_header() -> None:
    (doc,) = function_documents('def add(a, b):\n    """a + b"""\n    return a + b\n')
    assert doc == 'def add(a, b):\n    """a + b"""\n    return a + b\n'


def test_a_file_that_does_not_parse_gives_nothing() -> None:
    assert function_documents("def broken(:\n    pass\n") == []


def test_function_files_come_from_python_files_only_and_repeat() -> None:
    py = SourceFile(Path("/x/a.py"), "pkg/a.py", MODULE)
    js = SourceFile(Path("/x/b.js"), "pkg/b.js", "function f() { /** doc */ return 1 }\n")
    made = function_files([py, js], repeat=3)
    assert len(made) == 6 and all(f.rel.startswith(PREFIX) and f.rel.startswith("functions/pkg/a.py#") for f in made)
    assert function_files([py], repeat=0) == []


def test_held_out_files_give_no_function_documents() -> None:
    files = [SourceFile(Path(f"/x/m{i}.py"), f"m{i}.py", MODULE) for i in range(200)]
    train, held = split(files)
    made = {f.rel.split("#")[0].removeprefix("functions/") for f in function_files(train, repeat=1)}
    assert held and not made & {f.rel for f in held}


def test_line_numbers_hold_past_a_form_feed() -> None:
    text = 'import os\n\x0c\n\ndef here():\n    """The folder."""\n    return os.getcwd()\n'
    (doc,) = function_documents(text)
    assert doc == 'import os\n\n\ndef here():\n    """The folder."""\n    return os.getcwd()\n'


def test_an_import_made_twice_heads_the_document_once() -> None:
    docs = function_documents('import os\nimport os\n\n\ndef here():\n    """The folder."""\n    return os.getcwd()\n')
    assert docs == ['import os\n\n\ndef here():\n    """The folder."""\n    return os.getcwd()\n']
