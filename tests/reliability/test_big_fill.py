"""A fill's cost does not grow with the file: the same invoked fill through `fillgap serve` in the
soak's big file (a 100,000-character line, then short functions: 1 MB, 10 MB with FILLGAP_SOAK=1)
and in a small file holding only the big file's last lines, so the worker sees the very same
context and writes the very same candidates.

Each file gets two placeholder bodies at its end; the first fill pays for the open (the parse, the
line index), the second is the one compared. The figures go to runs/reliability.json.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.reliability import text as lsp
from tests.reliability.conftest import SOAK, record
from tests.reliability.rpc import RawServer

pytestmark = [pytest.mark.slow]

TAIL = (
    '\n\ndef area(w, h):\n    """Area of a rectangle."""\n    pass\n'
    '\n\ndef perimeter(w, h):\n    """Perimeter of a rectangle."""\n    pass\n'
)
SMALL_CHARS = 12_000  # the worker reads at most 6,000 characters before a gap and 3,000 after


def big_file(size: int) -> str:
    """The soak's file (tests/reliability/test_documents.py), ending in TAIL."""
    filler = "".join(f"def f{i}(x):\n    return x + {i}  # {'é' * (i % 7)}\n\n" for i in range(size // 38))
    long_line = "DATA = '" + "ab😀" * 33_333 + "'\n"
    return long_line + filler[:size] + TAIL


def _fill_ms(server: RawServer, uri: str, text: str, name: str) -> tuple[float, list[Any]]:
    """Milliseconds for an invoked inline fill at the end of `name`'s `pass`, and the texts offered."""
    at = text.index("pass", text.index(f"def {name}(")) + 4
    pos = lsp.position_of(text, at, "utf-16")
    t0 = time.perf_counter()
    items = server.inline_items(uri, pos["line"], pos["character"], timeout=600)
    return (time.perf_counter() - t0) * 1000, [item.insert_text for item in items]


def test_the_second_fill_in_a_big_file_costs_what_it_costs_in_a_small_one(
    serve: Callable[..., RawServer],
) -> None:
    big = big_file(10_000_000 if SOAK else 1_000_000)
    small = big[big.index("\n", len(big) - SMALL_CHARS) + 1 :]
    server = serve()
    server.initialize({"threads": 1, "worker": {"mode": "private"}})
    figures: dict[str, float | int] = {"big_chars": len(big), "small_chars": len(small)}
    offered: dict[str, list[Any]] = {}
    for label, text in (("small", small), ("big", big)):
        uri = f"file:///bigfill/{label}.py"
        server.open(uri, text)
        first, _ = _fill_ms(server, uri, text, "area")
        second, offered[label] = _fill_ms(server, uri, text, "perimeter")
        # Closed, so that the next file's fill gets no context from this one (lsp/fill/context.py): the
        # worker sees the same text for both and does the same work.
        server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        figures |= {f"{label}_first_ms": round(first), f"{label}_second_ms": round(second)}
    figures["items"] = len(offered["small"])
    assert offered["big"] == offered["small"], offered  # the same context: the same answer
    ratio = figures["big_second_ms"] / max(figures["small_second_ms"], 1)
    figures["ratio"] = round(ratio, 2)
    record("big_file_fill", **figures)
    assert server.alive()
    assert ratio <= (2.0 if SOAK else 3.0), figures  # issue 17's target is 2x at 10 MB; 1 MB gets slack
