"""Write ``docs/benchmarks.md`` from ``bench/results/*.json``, with a PNG chart per question.

Every figure is shown beside the reference measured in the same run (when there is one),
the ratio and the target, with the machine and the date of the run. Latency a benchmark
recorded sample by sample is drawn as distributions; otherwise the summary rows are drawn
as bars (:mod:`bench.charts`). Each chart has a one-line caption under it saying what to
read from it; a chart with no data is not drawn. The charts of the last run replace all.

    python -m bench.report
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench import charts, common

DOCS = Path(__file__).resolve().parents[1] / "docs"
CHARTS = DOCS / "benchmarks"
ORDER = (
    "ipam",
    "api",
    "cni",
    "cli",
    "dataplane",
    "convergence",
    "openstack",
    "docker",
    "routing",
    "scale",
)
TITLES = {
    "ipam": "IPAM allocations",
    "api": "IPAM over HTTP",
    "cni": "CNI ADD and DEL latency",
    "cli": "CLI start-up: wall time of a command",
    "dataplane": "Dataplane: throughput, policy scale, programming time",
    "convergence": "Convergence at 10 hosts: a change at romanad → enforced by every agent",
    "openstack": "Neutron ports: romana's drivers beside Neutron's internal IPAM",
    "docker": "docker run on a romana network beside Docker's default bridge",
    "routing": "Route convergence: a new host across a BGP fabric, a route-plan change into a VPC",
    "scale": "Scale: routes, firewall rules and host views from 10 to 5,000 hosts",
}
CAPTIONS = {
    "scale": "Routes grow with racks, not hosts (per-node and per-/26 routing grow with hosts); "
    "firewall rules per host stay flat as endpoints grow.",
}


def _charts(name: str, data: dict[str, Any]) -> list[charts.Chart]:
    """The benchmark's distributions, each its own chart; without any, its summary rows as
    bars, one chart per question. Charts with no data are left out."""
    drawn: list[charts.Chart] = []
    if data.get("distributions"):
        for entry in data["distributions"]:
            chart = charts.distribution(entry, CHARTS / f"{name}-{len(drawn) + 1}.png")
            drawn += [chart] if chart else []
    else:
        for question in charts.questions(data["results"]):
            path = CHARTS / f"{name}-{len(drawn) + 1}.png"
            chart = charts.bars(question, TITLES.get(name, name), path)
            drawn += [chart] if chart else []
    return drawn


def _scale_chart(name: str, series: dict[str, Any]) -> str:
    """Log-scale lines: routes per host and per fabric router by hosts, rules by endpoints."""
    CHARTS.mkdir(parents=True, exist_ok=True)
    fig, (hosts_ax, fabric_ax, rules_ax) = plt.subplots(1, 3, figsize=(13, 4))
    hosts = series["hosts"]
    per_host = (
        ("romana_host", "romana", "#2b6cb0"),
        ("per_node_host", "per-node (kube-router, Cilium)", "#718096"),
        ("per_block_host", f"per-/26 (Calico, {series['endpoints_per_host']} ep/host)", "#dd6b20"),
    )
    for key, label, color in per_host:
        hosts_ax.plot(hosts, series[key], marker="o", label=label, color=color)
    fabric = (
        ("romana_tor", "romana, ToR", "#2b6cb0", "-"),
        ("romana_spine", "romana, spine", "#2b6cb0", "--"),
        ("per_node_fabric", "per-node, ToR and spine", "#718096", "-"),
        ("per_block_fabric", "per-/26, ToR and spine", "#dd6b20", "-"),
    )
    for key, label, color, style in fabric:
        fabric_ax.plot(hosts, series[key], marker="o", label=label, color=color, linestyle=style)
    for ax, title in ((hosts_ax, "routes per host"), (fabric_ax, "routes per fabric router")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("hosts (racks of 40)")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    endpoints = series["endpoints"]
    rules_ax.plot(endpoints, series["rules"], marker="o", label="romana rules", color="#2b6cb0")
    rules_ax.set_xscale("log")
    rules_ax.set_yscale("log")
    rules_ax.set_ylim(bottom=1)
    rules_ax.set_xlabel("endpoints on the host")
    rules_ax.set_title("firewall rules per host", fontsize=9)
    rules_ax.legend(fontsize=7)
    fig.tight_layout()
    path = CHARTS / f"{name}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"benchmarks/{path.name}"


def _section(data: dict[str, Any]) -> list[str]:
    name = data["name"]
    m = data.get("machine", {})
    lines = [
        f"## {TITLES.get(name, name)}",
        "",
        f"Run `python -m bench.{name}`; measured {data.get('date', '?')} on "
        f"{m.get('cpus', '?')} CPUs, {m.get('memory_mib', '?')} MiB, kernel "
        f"{m.get('kernel', '?')}, Python {m.get('python', '?')}.",
        "",
    ]
    if data.get("notes"):
        lines += [data["notes"], ""]
    lines += [
        "| metric | romana | unit | reference (same run) | ratio | target | meets |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in data["results"]:
        ref = charts.fmt(r.get("reference"))
        if ref and r.get("reference_name"):
            ref = f"{ref} ({r['reference_name']})"
        meets = {True: "yes", False: "**no**", None: ""}[r.get("meets_target")]
        lines.append(
            f"| {r['metric']} | {charts.fmt(r.get('value'))} | {r['unit']} | {ref} | "
            f"{charts.fmt(r.get('ratio'))} | {r.get('target', '')} | {meets} |"
        )
    series = data.get("series")
    if series:
        lines += ["", f"![{TITLES.get(name, name)}]({_scale_chart(name, series)})"]
        if name in CAPTIONS:
            lines += ["", f"*{CAPTIONS[name]}*"]
    for chart in [] if series else _charts(name, data):
        lines += ["", f"![{chart.title}](benchmarks/{chart.path.name})", "", f"*{chart.caption}*"]
    return [*lines, ""]


def main() -> None:
    found = {p.stem: json.loads(p.read_text()) for p in sorted(common.RESULTS.glob("*.json"))}
    names = [n for n in ORDER if n in found] + [n for n in found if n not in ORDER]
    out = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`python -m bench.run_all`, then `python -m bench.report`)",
        "from the JSON each benchmark writes to `bench/results/`. Every ratio compares romana",
        "with a reference measured in the same run on the same machine; targets come from",
        "DESIGN.md §9. Benchmarks are not tests: nothing asserts on these numbers.",
        "",
        "Each chart answers one question, with a caption under it saying what to read. Latency",
        "a benchmark recorded run by run is drawn as its distribution: a CDF (the share of runs",
        "done within x; p50 where a curve crosses 0.5) or, for more than four series, box plots;",
        "romana in blue beside its references in grey and colours. A benchmark that recorded",
        "only summaries is drawn as bars of its table's rows, one chart per question.",
        "",
    ]
    for stale in CHARTS.glob("*.png"):
        stale.unlink()
    missing = [n for n in ORDER if n not in found]
    if missing:
        out += [f"Not run yet: {', '.join(missing)}.", ""]
    for name in names:
        out += _section(found[name])
    DOCS.mkdir(parents=True, exist_ok=True)
    (DOCS / "benchmarks.md").write_text("\n".join(out))
    print("wrote", DOCS / "benchmarks.md")


if __name__ == "__main__":
    main()
