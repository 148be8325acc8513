"""The report's charts, one PNG per question, each with the one-line caption printed under it.

Two kinds:

* a **distribution** a benchmark wrote (:func:`bench.common.distribution`): its raw samples
  drawn as empirical CDFs, or as box plots when there are more than :data:`CDF_MAX` series;
* the **summary rows** of a benchmark that wrote none, as bars grouped by question
  (:func:`questions`).

Invariants: a chart with no data is not drawn (no file, no caption); the first series of a
distribution, every series whose name starts with "romana" and every romana bar are drawn
in :data:`ROMANA`'s blues, the rest in :data:`REFERENCES` (grey first; a box plot greys them
all), so a colour means the same thing on every chart; an axis whose values span more than
:data:`DECADES` is logarithmic.
"""

from __future__ import annotations

import re
import statistics
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib import ticker
from matplotlib.axes import Axes

ROMANA = ("#2b6cb0", "#63b3ed", "#1a365d")
REFERENCES = ("#718096", "#dd6b20", "#38a169", "#805ad5", "#d53f8c")
STYLES = ("-", "--", ":", "-.")
CDF_MAX = 4
DECADES = 20.0
"""Largest over smallest positive value above which an axis is logarithmic."""
HIGHER_IS_BETTER = re.compile(r"/s$")
PERCENTILE = re.compile(r"\s*\(?\bp(\d\d)\b\)?")


@dataclass(frozen=True, slots=True)
class Chart:
    """A drawn chart: its title (the question), its caption and its file."""

    title: str
    caption: str
    path: Path


def fmt(value: float | None) -> str:
    if value is None:
        return ""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.3g}"


def _log_scale(values: list[float]) -> bool:
    positive = [v for v in values if v > 0]
    return len(positive) > 1 and max(positive) / min(positive) > DECADES


def _log_axis(ax: Axes, values: list[float]) -> None:
    """A logarithmic x axis in plain numbers, labelled at 1, 2 and 5 of each decade when
    the values span up to three decades, at each decade when they span more."""
    positive = [v for v in values if v > 0]
    subs = (1.0, 2.0, 5.0) if max(positive) / min(positive) <= 1000 else (1.0,)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(ticker.LogLocator(subs=subs))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: fmt(v)))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())


def _is_romana(name: str, index: int) -> bool:
    return index == 0 or name.lower().startswith("romana")


def _colours(names: list[str]) -> list[tuple[str, str]]:
    """(colour, line style) of each series: romana's in blues, references in order."""
    ours = theirs = 0
    picked = []
    for i, name in enumerate(names):
        if _is_romana(name, i):
            picked.append((ROMANA[ours % len(ROMANA)], STYLES[ours % len(STYLES)]))
            ours += 1
        else:
            picked.append((REFERENCES[theirs % len(REFERENCES)], "-"))
            theirs += 1
    return picked


def _save(fig: Any, ax: Axes, title: str, path: Path) -> None:
    """Title, legend under the axes (never over the data), and the PNG at ``path``."""
    fig.suptitle("\n".join(textwrap.wrap(title, 90)), fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    bottom = 0.0
    if handles:
        rows = len(handles) if len(labels[0]) > 40 else (len(handles) + 1) // 2
        fig.legend(handles, labels, loc="lower center", ncol=1 if len(labels[0]) > 40 else 2,
                   fontsize=8, frameon=False)  # fmt: skip
        bottom = (0.1 + 0.2 * rows) / fig.get_figheight()
    fig.tight_layout(rect=(0, bottom, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def distribution(entry: dict[str, Any], path: Path) -> Chart | None:
    """``entry`` (title, caption, unit, series: name → samples) drawn to ``path``; None, and
    no file, when no series has a sample."""
    series = {
        str(name): sorted(float(x) for x in samples)
        for name, samples in entry.get("series", {}).items()
        if samples
    }
    if not series:
        return None
    names = list(series)
    colours = _colours(names)
    unit = str(entry.get("unit", ""))
    values = [x for xs in series.values() for x in xs]
    if len(series) <= CDF_MAX:
        fig, ax = plt.subplots(figsize=(8, 4.2))
        for (name, xs), (colour, style) in zip(series.items(), colours, strict=True):
            # From 0 at the smallest sample, up 1/n at each sample.
            shares = [0.0] + [(i + 1) / len(xs) for i in range(len(xs))]
            label = f"{name}: p50 {fmt(statistics.median(xs))} {unit}, n={len(xs)}"
            ax.step([xs[0], *xs], shares, where="post", color=colour, linestyle=style, label=label)
        for share in (0.5, 0.95):
            ax.axhline(share, color="#a0aec0", linewidth=0.8, linestyle=":", zorder=0)
        ax.set_ylim(0, 1.02)
        ax.set_yticks([0, 0.25, 0.5, 0.75, 0.95])
        ax.set_ylabel("share of samples ≤ x")
    else:
        fig, ax = plt.subplots(figsize=(8, 1.4 + 0.5 * len(series)))
        drawn = ax.boxplot(
            list(series.values()),
            orientation="horizontal",
            whis=(5, 95),
            showfliers=False,
            patch_artist=True,
            tick_labels=["\n".join(textwrap.wrap(f"{n} (n={len(series[n])})", 45)) for n in names],
        )
        for i, (box, median) in enumerate(zip(drawn["boxes"], drawn["medians"], strict=True)):
            box.set_facecolor(ROMANA[0] if _is_romana(names[i], i) else REFERENCES[0])
            box.set_alpha(0.75)
            median.set_color("black")
        ax.tick_params(axis="y", labelsize=8)
        ax.invert_yaxis()
    log = _log_scale(values)
    if log:
        _log_axis(ax, values)
    boxes = "; box p25–p75, line p50, whiskers p5–p95" if len(series) > CDF_MAX else ""
    ax.set_xlabel(unit + (" (log scale)" if log else "") + boxes)
    ax.grid(axis="x", alpha=0.3, which="both")
    title = str(entry.get("title", ""))
    _save(fig, ax, title, path)
    return Chart(title, str(entry.get("caption", "")), path)


@dataclass(frozen=True, slots=True)
class Question:
    """Summary rows that answer one question: one unit, one topic, headline or not."""

    topic: str
    unit: str
    percentiles: bool
    """The rows are percentiles of figures given at several percentiles (p50 and p95)."""
    rows: tuple[dict[str, Any], ...]


def _stem(metric: str) -> tuple[str, str]:
    """The metric without its percentile marker, and the marker's percentile ('' if none)."""
    found = PERCENTILE.search(metric)
    if found is None:
        return metric, ""
    return metric[: found.start()] + metric[found.end() :], found[1]


def _topic(metric: str, shared: dict[str, int]) -> str:
    head = metric.split(": ", 1)[0] if ": " in metric else ""
    return head if shared.get(head, 0) > 1 else ""


def questions(results: list[dict[str, Any]]) -> list[Question]:
    """The rows with a value, grouped by question, in the order they first appear.

    Rows answer one question when they share a unit and whether they are percentiles of a
    figure also given at another percentile (the headline p50 and p95) or stand alone (the
    breakdown parts); headline rows also share a topic (the metric's words before ': ',
    when two headline rows or more have them)."""
    rows = [r for r in results if r.get("value") is not None]
    percentiles: dict[tuple[str, str], set[str]] = {}
    heads: dict[str, int] = {}
    for r in rows:
        stem, p = _stem(r["metric"])
        if p:
            percentiles.setdefault((r["unit"], stem), set()).add(p)
    paired = [r for r in rows if len(percentiles.get((r["unit"], _stem(r["metric"])[0]), ())) > 1]
    for r in paired:
        if ": " in r["metric"]:
            head = r["metric"].split(": ", 1)[0]
            heads[head] = heads.get(head, 0) + 1
    grouped: dict[tuple[str, str, bool], list[dict[str, Any]]] = {}
    for r in rows:
        headline = any(r is row for row in paired)
        topic = _topic(r["metric"], heads) if headline else ""
        grouped.setdefault((topic, r["unit"], headline), []).append(r)
    return [Question(t, u, p, tuple(rs)) for (t, u, p), rs in grouped.items()]


def _label(metric: str, topic: str) -> str:
    return "\n".join(textwrap.wrap(metric.removeprefix(f"{topic}: ") if topic else metric, 48))


def bar_caption(question: Question) -> str:
    """What to read from the bars: the ratio to the reference, or the largest figure."""
    better = "longer" if HIGHER_IS_BETTER.search(question.unit) else "shorter"
    compared = [r for r in question.rows if r.get("reference") and r.get("ratio") is not None]
    if compared:
        names = sorted({r.get("reference_name") or "reference" for r in compared})
        low = min(compared, key=lambda r: r["ratio"])
        high = max(compared, key=lambda r: r["ratio"])
        span = (
            f"romana/reference {fmt(low['ratio'])}×"
            if low is high
            else f"romana/reference from {fmt(low['ratio'])}× ({low['metric']}) "
            f"to {fmt(high['ratio'])}× ({high['metric']})"
        )
        return (
            f"romana (blue) beside {', '.join(names)} (grey), same run; {better} is better; {span}."
        )
    top = max(question.rows, key=lambda r: r["value"])
    return (
        f"No reference measured for these (targets in the table); the largest is "
        f"{top['metric']} at {fmt(top['value'])} {question.unit}."
    )


def bar_title(question: Question, benchmark: str) -> str:
    base = question.topic or benchmark
    if question.percentiles:
        return f"{base}: p50 and p95 in {question.unit}, romana beside the reference"
    if any(r.get("reference") for r in question.rows):
        return f"{base}: {question.unit}, romana beside the reference"
    return f"{base}: {question.unit}, no reference in the same run"


def _bars(ax: Axes, question: Question, log: bool) -> None:
    rows = [r for r in question.rows if not log or r["value"] > 0]
    ys = list(range(len(rows)))
    refs = [r.get("reference") or 0 for r in rows]
    width = 0.4 if any(refs) else 0.7
    # A row with a reference has its two bars either side of its label; one without, on it.
    shifts = [0.2 if ref else 0.0 for ref in refs]
    ours = ax.barh(
        [y + shift for y, shift in zip(ys, shifts, strict=True)], [r["value"] for r in rows],
        height=width, color=ROMANA[0], label="romana",
    )  # fmt: skip
    ax.bar_label(ours, labels=[fmt(r["value"]) for r in rows], fontsize=7, padding=2)
    names = {r.get("reference_name") or "reference" for r in rows if r.get("reference")}
    if any(refs):
        label = next(iter(names)) if len(names) == 1 else "reference (same run)"
        theirs = ax.barh(
            [y - shift for y, shift in zip(ys, shifts, strict=True)], refs, height=width,
            color=REFERENCES[0], label=label,
        )  # fmt: skip
        ax.bar_label(theirs, labels=[fmt(v) if v else "" for v in refs], fontsize=7, padding=2)
    labels = [
        _label(r["metric"], question.topic)
        + (
            f"\n(reference: {r['reference_name']})"
            if len(names) > 1 and r.get("reference") and r["reference_name"] not in r["metric"]
            else ""
        )
        for r in rows
    ]
    ax.set_yticks(ys, labels, fontsize=8)
    ax.invert_yaxis()
    ax.margins(x=0.15)


def bars(question: Question, benchmark: str, path: Path) -> Chart | None:
    """The rows of ``question`` as bars, romana beside its reference; None, and no file,
    when no row has a value other than zero."""
    values = [r["value"] for r in question.rows] + [
        r["reference"] for r in question.rows if r.get("reference")
    ]
    if not any(values):
        return None
    log = _log_scale(values)
    lines = sum(_label(r["metric"], question.topic).count("\n") + 2 for r in question.rows)
    fig, ax = plt.subplots(figsize=(9, 1.3 + 0.28 * lines + 0.25 * len(question.rows)))
    _bars(ax, question, log)
    if log:
        _log_axis(ax, values)
    ax.set_xlabel(question.unit + (" (log scale)" if log else ""))
    ax.grid(axis="x", alpha=0.3)
    title = bar_title(question, benchmark)
    _save(fig, ax, title, path)
    return Chart(title, bar_caption(question), path)
