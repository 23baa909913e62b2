"""Query captures come back in document order, the same every call: the bench's held-out typing
positions are drawn from them, and "Fill all" fills placeholders last to first."""

from pathlib import Path

from lsp.eval.measure import body_cases
from lsp.fill.syntax import captured, grammar, parse

SOURCE = "".join(f"def f{i}(x):\n    if x:\n        return {i}\n    return -x\n\n" for i in range(40))


def test_blocks_in_document_order_every_call() -> None:
    tree = parse("python", SOURCE)
    blocks = grammar("python").blocks
    calls = [[(n.start_byte, n.end_byte) for n in captured(blocks, tree.root_node, "block")] for _ in range(5)]
    assert len(calls[0]) == 80  # each function's body and its `if` block
    assert all(c == calls[0] for c in calls)
    assert calls[0] == sorted(calls[0], key=lambda span: (span[0], -span[1]))  # outer before inner


def test_body_cases_repeat(tmp_path: Path) -> None:
    path = tmp_path / "many.py"
    path.write_text(SOURCE)
    first = [c.truth for c in body_cases(path)]
    assert len(first) == 40  # one per function: the bodies query takes function bodies, not the `if` blocks
    assert [c.truth for c in body_cases(path)] == first
    assert first[0].endswith("return -x") and first[-1] == first[0].replace("return 0", "return 39")
