"""The one percentile: nearest rank, always a measured value, None with nothing measured."""

from __future__ import annotations

import pytest

from model.wire.stats import percentile, rank


def test_nearest_rank_is_the_smallest_value_with_q_percent_at_or_below_it() -> None:
    values = [float(v) for v in range(1, 21)]  # 1..20
    assert percentile(values, 95) == 19.0  # 19 of 20 (95%) are <= 19; 18 is only 90%
    assert percentile(values, 50) == 10.0  # the lower median, a value measured
    assert percentile(values, 100) == 20.0 and percentile(values, 0) == 1.0
    assert percentile(reversed(values), 95) == 19.0  # order does not matter


def test_the_rank_matches_the_definition() -> None:
    for n in range(1, 1001):
        for q in (1, 50, 90, 95, 99, 100):
            k = rank(q, n)
            assert (k + 1) * 100 >= q * n, (q, n)  # at least q% at or below the value
            assert k == 0 or k * 100 < q * n, (q, n)  # and the one before it is not enough


def test_no_values_no_percentile() -> None:
    assert percentile([], 95) is None
    assert percentile([7.5], 95) == 7.5
    with pytest.raises(ValueError):
        percentile([1.0], 101)
