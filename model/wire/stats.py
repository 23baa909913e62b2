"""The one percentile every report uses: `fillgap status`, `bench`, `eval` and `measure`.

Nearest rank: the q-th percentile of n values is the smallest value with at least q% of the
values at or below it, `sorted(values)[ceil(q / 100 * n) - 1]` (the minimum for q = 0). It is
always one of the values measured, never an interpolation. With no values there is no percentile:
`percentile` answers None and each report says what it shows then (status shows 0, bench and eval
leave the field out or null). Standard library only: the worker and `lsp/` both import it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def rank(q: float, n: int) -> int:
    """The 0-based index in n sorted values of their q-th percentile (0 <= q <= 100, n >= 1)."""
    if not 0 <= q <= 100:
        raise ValueError(f"a percentile is 0 to 100, not {q}")
    # round() first: 95 * 20 / 100 must be 19, not 19.000000000000004 (whose ceiling is 20).
    return max(0, math.ceil(round(q * n / 100, 9)) - 1)


def percentile(values: Iterable[float], q: float) -> float | None:
    """The q-th percentile (0-100) of `values` by nearest rank; None when there are none."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[rank(q, len(ordered))]
