"""``bench.common.median_of_runs``: a headline ratio over several runs is the median run's.

A report row that took the best run would flatter romana and one that took the worst would
hide an improvement: the row is the run whose ratio is the median, and every run's ratio
stands beside it in the row's name.
"""

from __future__ import annotations

import pytest
from bench import common


def run(ours_ms: float, ref_ms: float) -> tuple[list[float], list[float]]:
    return [ours_ms / 1000] * 5, [ref_ms / 1000] * 5


def test_the_row_is_the_median_run_with_every_ratio_beside_it() -> None:
    runs = [run(12, 10), run(8, 10), run(9, 10)]

    row = common.median_of_runs("ADD p50", runs, 50, reference_name="ptp", target=1.0)

    assert (row.value, row.reference, row.ratio) == (9.0, 10.0, 0.9)
    assert row.metric == "ADD p50, median of 3 runs (1.20, 0.80, 0.90)"
    assert row.meets_target is True and row.target == "<= 1.0 x ptp"


def test_one_run_is_its_own_row_and_an_even_count_is_refused() -> None:
    row = common.median_of_runs("DEL p95", [run(3, 30)], 95, reference_name="ptp", target=1.0)
    assert (row.metric, row.ratio) == ("DEL p95", 0.1)

    with pytest.raises(ValueError, match="runs: an odd number"):
        common.median_of_runs("x", [run(1, 1), run(1, 1)], 50, reference_name="r", target=None)
