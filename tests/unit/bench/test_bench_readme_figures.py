"""The README quotes only ratios the benchmark report holds.

Every ratio the README states (a number followed by ×) is, rounded to two decimals, a ratio
or a target of a row of docs/benchmarks.md: a benchmark run that changes a ratio the README
quotes makes this fail until the README quotes the report again.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
QUOTED = re.compile(r"(\d+(?:\.\d+)?)×")
TARGET = re.compile(r"(\d+(?:\.\d+)?) x ")
COLUMNS = ("metric", "romana", "unit", "reference", "ratio", "target", "meets")


def report_ratios() -> set[float]:
    """The ratios and the target ratios of every row of the report's tables."""
    found = set()
    for line in (ROOT / "docs" / "benchmarks.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != len(COLUMNS) or cells[0] in ("metric", "---"):
            continue
        row = dict(zip(COLUMNS, cells, strict=True))
        if row["ratio"]:
            found.add(round(float(row["ratio"].replace(",", "")), 2))
        found.update(round(float(n), 2) for n in TARGET.findall(row["target"] + " "))
    return found


def test_every_ratio_the_readme_quotes_is_one_the_report_holds() -> None:
    quoted = {float(n) for n in QUOTED.findall((ROOT / "README.md").read_text())}

    assert quoted, "the README quotes no ratio: the pattern no longer matches its figures"
    assert sorted(quoted - report_ratios()) == []
