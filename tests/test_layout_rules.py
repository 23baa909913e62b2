"""The tree's rules, read from the source with `ast`: who may import what, how big a module or a
function may grow, and that every package says what it is for.

Imports are found at any depth (inside functions, `if TYPE_CHECKING:`, `try:`), relative imports
are resolved against the file's package, and every failure names file:line and the import, so a
broken rule points at the line to change. The process-level check (no `torch` in `sys.modules`
after importing the server) lives in tests/lsp/cli/test_cli.py.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
HEAVY = ("torch", "numpy", "safetensors")
SERVER_PACKAGES = ("lsp.server", "lsp.fill", "lsp.worker")
TOOLING_PACKAGES = ("lsp.eval", "lsp.bench", "lsp.cli")


@dataclass(frozen=True)
class Import:
    file: str  # relative to the repository
    line: int
    module: str  # absolute dotted name: `from a.b import c` yields a.b and a.b.c

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: imports {self.module}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (REPO / folder).rglob("*.py") if "__pycache__" not in p.parts)


@cache
def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _package(path: Path) -> str:
    name = module_name(path)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _resolve(path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = _package(path).split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports(path: Path, tree: ast.Module | None = None) -> Iterator[Import]:
    """Every module the file may load: `import x`, `from x import y` (x and x.y, since y may be a
    submodule), and the string given to `importlib.resources.files(...)`."""
    rel = str(path.relative_to(REPO))
    for node in ast.walk(tree or parsed(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(rel, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(path, node)
            yield Import(rel, node.lineno, base)
            for alias in node.names:
                if alias.name != "*":
                    yield Import(rel, node.lineno, f"{base}.{alias.name}")
        elif isinstance(node, ast.Call) and _calls_files(node) and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                yield Import(rel, node.lineno, arg.value)


def _calls_files(node: ast.Call) -> bool:
    func = node.func
    return isinstance(func, ast.Attribute) and func.attr == "files" and ast.unparse(func.value).endswith("resources")


def under(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def violations(folders: tuple[str, ...], bad: Callable[[Import], bool], only: tuple[str, ...] = ()) -> list[str]:
    found = []
    for path in python_files(*folders):
        if only and not under(module_name(path), *only):
            continue
        found += [str(imp) for imp in imports(path) if bad(imp)]
    return sorted(set(found))


def _from_model_outside_wire(imp: Import) -> bool:
    # `from model import wire` yields `model` and `model.wire`: the bare package alone is fine.
    return under(imp.module, "model") and imp.module != "model" and not under(imp.module, "model.wire")


def _importlib_outside_cli(imp: Import) -> bool:
    # Loading modules by name hides imports from these rules; only the CLI's table may, for
    # subcommands that run model code in their own process.
    return under(imp.module, "importlib") and not imp.file.startswith("lsp/cli/")


RULES: dict[str, Callable[[], list[str]]] = {
    "lsp never imports torch, numpy, safetensors or ray": lambda: violations(
        ("lsp",), lambda i: under(i.module, *HEAVY, "ray")
    ),
    "from model, lsp imports only model.wire": lambda: violations(("lsp",), _from_model_outside_wire),
    "model.wire imports no torch, numpy or safetensors": lambda: violations(
        ("model/wire",), lambda i: under(i.module, *HEAVY)
    ),
    "model.wire imports nothing from model outside model.wire": lambda: violations(
        ("model/wire",), _from_model_outside_wire
    ),
    "lsp.server, lsp.fill and lsp.worker never import lsp.eval, lsp.bench or lsp.cli": lambda: violations(
        ("lsp",), lambda i: under(i.module, *TOOLING_PACKAGES), only=SERVER_PACKAGES
    ),
    "importlib is imported only in lsp.cli": lambda: violations(("lsp",), _importlib_outside_cli),
}


@pytest.mark.parametrize("rule", list(RULES))
def test_import_rule(rule: str) -> None:
    broken = RULES[rule]()
    assert not broken, f"{rule}:\n" + "\n".join(broken)


def test_the_walk_sees_every_kind_of_import() -> None:
    """The rules are only as good as the walk: it must see nested, relative, aliased and
    resource-by-name imports, and tell model.wire from the rest of model."""
    source = (
        "def f():\n"
        "    import torch.nn as nn\n"
        "    from ..eval import harness\n"
        "    from . import gaps\n"
        "    from model import engine\n"
        "    resources.files('model.serve')\n"
    )
    probe = REPO / "lsp" / "fill" / "probe.py"  # never written: the source is parsed in memory
    found = {(imp.line, imp.module) for imp in imports(probe, ast.parse(source))}
    assert {(2, "torch.nn"), (3, "lsp.eval.harness"), (4, "lsp.fill.gaps"), (5, "model.engine")} <= found
    assert (6, "model.serve") in found
    assert _from_model_outside_wire(Import("x", 5, "model.engine"))
    assert not _from_model_outside_wire(Import("x", 5, "model.wire.protocol"))
    assert not _from_model_outside_wire(Import("x", 5, "model"))


def _long_functions(path: Path) -> Iterator[str]:
    rel = path.relative_to(REPO)
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                yield f"{rel}:{node.lineno}: {node.name} has {length} lines"


def test_no_module_over_400_lines() -> None:
    big = [
        f"{p.relative_to(REPO)}: {n} lines"
        for p in python_files("lsp", "model")
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert not big, f"modules over {MAX_MODULE_LINES} lines:\n" + "\n".join(big)


def test_no_function_over_60_lines() -> None:
    long = [line for p in python_files("lsp", "model") for line in _long_functions(p)]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(long)


def packages() -> list[Path]:
    folders = {p.parent for p in python_files("lsp", "model")}
    return sorted(folders)


@pytest.mark.parametrize("folder", packages(), ids=lambda p: str(p.relative_to(REPO)))
def test_each_package_says_what_it_is(folder: Path) -> None:
    init = folder / "__init__.py"
    assert init.is_file(), f"{folder.relative_to(REPO)} has Python modules but no __init__.py"
    doc = (ast.get_docstring(parsed(init)) or "").strip()
    rel = init.relative_to(REPO)
    assert doc, f"{rel}: no docstring"
    assert "TODO" not in doc and len(doc) >= 40, f"{rel}: the docstring is a placeholder: {doc!r}"
    assert "import" in doc.lower(), f"{rel}: the docstring should say what the package may import"
