"""What every benchmark shares: the machine description and the JSON result file."""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True, slots=True)
class Result:
    metric: str
    value: float
    unit: str
    target: str = ""
    reference: float | None = None
    reference_name: str = ""
    ratio: float | None = None
    """value / reference (or value / target when there is no measured reference)."""
    meets_target: bool | None = None


def machine() -> dict[str, object]:
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) // 1024
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "memory_mib": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "system": platform.platform(),
    }


def write(
    name: str, results: list[Result], notes: str = "", extra: dict[str, object] | None = None
) -> Path:
    """``extra``: more top-level keys, for a report section that draws more than the rows."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "name": name,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "notes": notes,
        "results": [asdict(r) for r in results],
        **(extra or {}),
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def show(results: list[Result]) -> None:
    width = max(len(r.metric) for r in results)
    for r in results:
        ref = f"  reference {r.reference:,.1f} ({r.reference_name})" if r.reference else ""
        ratio = f"  ratio {r.ratio:.2f}" if r.ratio is not None else ""
        ok = (
            ""
            if r.meets_target is None
            else ("  meets target" if r.meets_target else "  BELOW TARGET")
        )
        print(f"{r.metric:<{width}}  {r.value:>12,.1f} {r.unit}{ref}{ratio}  target {r.target}{ok}")
    sys.stdout.flush()


def distribution(
    title: str, caption: str, unit: str, series: dict[str, list[float]]
) -> dict[str, object]:
    """One latency chart of the report: the raw samples of each series (romana first, then
    its references measured in the same run), drawn as distributions, never as one bar.
    ``caption`` is the one line saying what to read from the chart."""
    return {"title": title, "caption": caption, "unit": unit, "series": series}


def finish(
    name: str,
    results: list[Result],
    notes: str,
    distributions: list[dict[str, object]] | None = None,
) -> int:
    """Show ``results``, write them as ``name``'s JSON for the report, and say where: the
    end of every benchmark's ``main``. ``distributions`` (made by :func:`distribution`) are
    written under the key ``distributions`` for the report's charts."""
    show(results)
    extra: dict[str, object] | None = {"distributions": distributions} if distributions else None
    print(f"written to {write(name, results, notes, extra)}")
    return 0


def percentile(samples: list[float], p: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[p - 1]


def compared(
    metric: str,
    ours: list[float],
    ref: list[float],
    p: int,
    *,
    reference_name: str,
    target: float | None,
    digits: int = 1,
) -> Result:
    """The ``p``-th percentile of ``ours`` beside that of ``ref`` (seconds, shown in ms) and
    their ratio; ``target``: the ratio it must not exceed (None: no target)."""
    value, reference = percentile(ours, p), percentile(ref, p)
    ratio = value / reference
    return Result(
        metric=metric,
        value=round(value * 1000, digits),
        unit="ms",
        target=f"<= {target} x {reference_name}" if target is not None else "",
        reference=round(reference * 1000, digits),
        reference_name=reference_name,
        ratio=round(ratio, 2),
        meets_target=ratio <= target if target is not None else None,
    )


def median_of_runs(
    metric: str,
    runs: list[tuple[list[float], list[float]]],
    p: int,
    *,
    reference_name: str,
    target: float | None,
    digits: int = 1,
) -> Result:
    """The ``p``-th percentile compared over an odd number of runs, each ``(ours,
    reference)``: the row of the run whose ratio is the median, named with every run's ratio
    side by side, so that one lucky or unlucky run neither makes nor breaks the figure."""
    if len(runs) % 2 == 0:
        raise ValueError(f"runs: an odd number is needed for a median run, not {len(runs)}")
    rows = [
        compared(metric, ours, ref, p, reference_name=reference_name, target=target,
                 digits=digits)
        for ours, ref in runs
    ]  # fmt: skip
    if len(rows) == 1:
        return rows[0]
    middle = sorted(rows, key=lambda r: r.ratio or 0.0)[len(rows) // 2]
    ratios = ", ".join(f"{r.ratio:.2f}" for r in rows)
    return Result(
        **{**asdict(middle), "metric": f"{metric}, median of {len(rows)} runs ({ratios})"}
    )
