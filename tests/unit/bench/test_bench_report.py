"""What docs/benchmarks.md shows of a benchmark's result file.

A benchmark that recorded its latency sample by sample hands the report distributions
(``bench.common.distribution``); the report draws each as its own chart, an empirical CDF of
the raw samples with romana beside its reference, and prints the chart's one-line caption
under it. A distribution without samples draws nothing: no empty chart, no caption. Results
without distributions are drawn as bars, one chart per question.

The report runs for real here, from result files written by ``bench.common`` into a
temporary directory, and writes its markdown and PNGs there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bench import charts, common, report
from matplotlib.figure import Figure

TITLE = "How long does CNI ADD take, beside ptp + host-local?"
CAPTION = "romana/reference 0.95× at p50: the curve further left is faster."
ROMANA = [9.0, 7.0, 8.0, 10.0]
REFERENCE = [8.5, 9.5, 8.0, 12.0, 11.0]
ROWS = [
    common.Result("CNI ADD p50", 8.0, "ms", reference=9.5, reference_name="ptp", ratio=0.84),
    common.Result("CNI ADD p95", 10.0, "ms", reference=12.0, reference_name="ptp", ratio=0.83),
]


@pytest.fixture
def docs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The report reads results from and writes docs to ``tmp_path``."""
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(report, "DOCS", tmp_path / "docs")
    monkeypatch.setattr(report, "CHARTS", tmp_path / "docs" / "benchmarks")
    return tmp_path / "docs"


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> list[Figure]:
    """Every figure the charts save, kept when they close it."""
    kept: list[Figure] = []
    monkeypatch.setattr(charts.plt, "close", kept.append)
    return kept


def write_cni(series: dict[str, list[float]]) -> None:
    entry = common.distribution(TITLE, CAPTION, "ms", series)
    common.write("cni", ROWS, "notes", extra={"distributions": [entry]})


def test_a_distribution_is_drawn_as_the_cdf_of_its_samples_with_its_caption_below(
    docs: Path, figures: list[Figure]
) -> None:
    write_cni({"romana": ROMANA, "ptp + host-local": REFERENCE})

    report.main()

    markdown = (docs / "benchmarks.md").read_text().splitlines()
    image = markdown.index(f"![{TITLE}](benchmarks/cni-1.png)")
    assert markdown[image + 1 : image + 3] == ["", f"*{CAPTION}*"]
    assert (docs / "benchmarks" / "cni-1.png").read_bytes().startswith(b"\x89PNG")
    [figure] = figures
    [axes] = figure.axes
    assert figure.get_suptitle() == TITLE
    assert axes.get_xlabel() == "ms"
    curves = {
        str(line.get_label()): line for line in axes.lines if line.get_drawstyle() != "default"
    }
    for name, samples in (("romana", ROMANA), ("ptp + host-local", REFERENCE)):
        [label] = [label for label in curves if label.startswith(f"{name}: p50 ")]
        line: Any = curves[label]
        # The share of samples at or below x: from 0 at the smallest, up 1/n at each sample.
        assert list(line.get_xdata()) == [min(samples), *sorted(samples)]
        n = len(samples)
        assert list(line.get_ydata()) == [0.0] + [(i + 1) / n for i in range(n)]
    # romana in blue, the reference in grey, on every chart.
    colours = {label.split(":")[0]: line.get_color() for label, line in curves.items()}
    assert colours == {"romana": charts.ROMANA[0], "ptp + host-local": charts.REFERENCES[0]}


def test_a_distribution_without_samples_draws_nothing(docs: Path, figures: list[Figure]) -> None:
    write_cni({"romana": [], "ptp + host-local": []})

    report.main()

    markdown = (docs / "benchmarks.md").read_text()
    assert TITLE not in markdown
    assert CAPTION not in markdown
    assert "| CNI ADD p50 | 8 | ms |" in markdown  # the table still holds the figures
    assert figures == []
    assert list((docs / "benchmarks").glob("*.png")) == []


def test_summary_rows_are_drawn_one_chart_per_question() -> None:
    rows = [
        {"metric": "CNI ADD p50", "value": 8.9, "unit": "ms", "reference": 6.6},
        {"metric": "CNI ADD p95", "value": 11.3, "unit": "ms", "reference": 10.1},
        {"metric": "romanad allocate round trip (p50)", "value": 2.9, "unit": "ms"},
        {"metric": "veth removal (p50)", "value": 19.9, "unit": "ms"},
        {"metric": "agent reconciles per ADD+DEL", "value": 0.0, "unit": "runs"},
    ]

    found = charts.questions(rows)

    assert [[r["metric"] for r in q.rows] for q in found] == [
        ["CNI ADD p50", "CNI ADD p95"],
        ["romanad allocate round trip (p50)", "veth removal (p50)"],
        ["agent reconciles per ADD+DEL"],
    ]
    assert [q.percentiles for q in found] == [True, False, False]
