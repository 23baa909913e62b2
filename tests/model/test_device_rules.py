"""Every tensor and generator model/ makes is made on a device it names, read from the source.

A factory call without `device=` lands on the CPU (or on whatever default device is set), and the
first operation that mixes it with the model's tensors raises on CUDA, never on a CPU-only machine.
So every call to one of FACTORIES, however torch was imported (`torch.zeros`, `import torch as t;
t.zeros`, `from torch import zeros`), must pass `device=`. `*_like` and `Tensor.new_*` calls follow
their argument's device and are not in the list. The few places that mean the CPU (or the device
a module is being built on) are named in ALLOWED with the reason. The runtime twin of this test,
which also sees calls this walk cannot resolve, is tests/model/test_device_mode.py.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FACTORIES = frozenset(
    {
        "zeros",
        "ones",
        "full",
        "empty",
        "arange",
        "rand",
        "randn",
        "randint",
        "randperm",
        "tensor",
        "as_tensor",
        "linspace",
        "eye",
        "Generator",
    }
)

# "file:function" (the function's qualified name inside the file) -> why it may omit device=.
ALLOWED: dict[str, str] = {
    "model/transformer.py:RMSNorm.__init__": (
        "a parameter is made where the module is being built (the CPU, or the device/meta context "
        "a loader builds it under) and moves with the module's .to(device)"
    ),
    "model/train/objective.py:make_batch": (
        "training batches are built on the CPU from numpy windows with the global seeded RNG, and "
        "the training loop moves each batch to the model's device"
    ),
}


@dataclass(frozen=True)
class Call:
    file: str  # relative to the repository
    line: int
    function: str  # qualified name of the enclosing function ("" at module level)
    source: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.function}"

    def __str__(self) -> str:
        return f"{self.file}:{self.line} in {self.function or '<module>'}: {self.source}"


def _torch_names(tree: ast.AST) -> tuple[set[str], dict[str, str]]:
    """Names bound to the torch module, and names bound to a factory (`from torch import zeros as z`)."""
    modules, factories = set(), {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.asname or a.name for a in node.names if a.name == "torch"}
        elif isinstance(node, ast.ImportFrom) and node.module == "torch":
            factories |= {a.asname or a.name: a.name for a in node.names if a.name in FACTORIES}
    return modules, factories


def _factory(call: ast.Call, modules: set[str], factories: dict[str, str]) -> str | None:
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in modules:
        return func.attr if func.attr in FACTORIES else None
    if isinstance(func, ast.Name):
        return factories.get(func.id)
    return None


def _calls_in(node: ast.AST, scope: str, found: list[tuple[ast.Call, str]]) -> None:
    """Every call under node, with the qualified name of the function it sits in."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            _calls_in(child, f"{scope}.{child.name}" if scope else child.name, found)
            continue
        if isinstance(child, ast.Call):
            found.append((child, scope))
        _calls_in(child, scope, found)


def deviceless_calls(rel: str, tree: ast.AST) -> list[Call]:
    """Factory calls in the parsed file `rel` that pass no `device=`."""
    modules, factories = _torch_names(tree)
    found: list[tuple[ast.Call, str]] = []
    _calls_in(tree, "", found)
    return [
        Call(rel, call.lineno, scope, ast.unparse(call))
        for call, scope in found
        if _factory(call, modules, factories) and not any(k.arg == "device" for k in call.keywords)
    ]


def model_calls() -> list[Call]:
    calls = []
    for path in sorted((REPO / "model").rglob("*.py")):
        rel = str(path.relative_to(REPO))
        calls += deviceless_calls(rel, ast.parse(path.read_text(), filename=rel))
    return calls


def test_every_factory_call_in_model_names_its_device() -> None:
    bad = [str(c) for c in model_calls() if c.where not in ALLOWED]
    assert not bad, "tensors or generators made without device= (pass the model's device):\n" + "\n".join(bad)


def test_every_allowed_place_still_makes_a_deviceless_call() -> None:
    """An entry whose call has gone (or moved to another function) must leave the list."""
    used = {c.where for c in model_calls()}
    stale = sorted(set(ALLOWED) - used)
    assert not stale, f"allow-list entries with no deviceless call left: {stale}"


def test_the_walk_sees_every_way_of_calling_a_factory() -> None:
    """The rule is only as good as the walk: aliases, from-imports, nesting and methods count;
    other libraries' `zeros` and `*_like` / `new_*` calls do not."""
    source = (
        "import numpy as np\n"
        "import torch as t\n"
        "from torch import Generator, zeros as z\n"
        "class A:\n"
        "    def f(self, x):\n"
        "        g = Generator()\n"
        "        def inner():\n"
        "            return t.rand(3, generator=g)\n"
        "        return z(2), t.full((2,), 1, device=x.device), np.zeros(3), t.zeros_like(x), x.new_zeros(2)\n"
        "w = t.tensor([1])\n"
    )
    found = {(c.line, c.function) for c in deviceless_calls("probe.py", ast.parse(source))}
    assert found == {(6, "A.f"), (8, "A.f.inner"), (9, "A.f"), (10, "")}
