"""Write ``docs/benchmarks.md`` from ``bench/results/*.json``, with one PNG chart per benchmark.

Every figure is shown beside the reference measured in the same run (when there is one),
the ratio and the target, with the machine and the date of the run.

    python -m bench.report
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench import common

DOCS = Path(__file__).resolve().parents[1] / "docs"
CHARTS = DOCS / "benchmarks"
ORDER = ("ipam", "api", "cni", "cli", "dataplane", "openstack", "docker", "routing", "scale")
TITLES = {
    "ipam": "IPAM allocations",
    "api": "IPAM over HTTP",
    "cni": "CNI ADD and DEL latency",
    "cli": "CLI start-up: wall time of a command",
    "dataplane": "Dataplane: throughput, policy scale, programming time",
    "openstack": "Neutron ports: romana's drivers beside Neutron's internal IPAM",
    "docker": "docker run on a romana network beside Docker's default bridge",
    "routing": "Route convergence: a new host across a BGP fabric, a route-plan change into a VPC",
    "scale": "Scale: routes, firewall rules and host views from 10 to 5,000 hosts",
}
CAPTIONS = {
    "scale": "Routes grow with racks, not hosts (per-node and per-/26 routing grow with hosts); "
    "firewall rules per host stay flat as endpoints grow.",
}


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.3g}"


def _chart(name: str, results: list[dict[str, Any]]) -> str | None:
    rows = [r for r in results if r.get("value") is not None]
    if not rows:
        return None
    CHARTS.mkdir(parents=True, exist_ok=True)
    by_unit: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_unit.setdefault(r["unit"], []).append(r)
    fig, axes = plt.subplots(len(by_unit), 1, figsize=(8, 1.2 + 0.55 * len(rows) + len(by_unit)))
    axes_list = list(axes) if len(by_unit) > 1 else [axes]
    for ax, (unit, group) in zip(axes_list, by_unit.items(), strict=True):
        labels, values, refs = [], [], []
        for r in group:
            labels.append(r["metric"])
            values.append(r["value"])
            refs.append(r.get("reference") or 0)
        ys = range(len(group))
        ax.barh([y + 0.2 for y in ys], values, height=0.4, label="romana", color="#2b6cb0")
        if any(refs):
            ax.barh([y - 0.2 for y in ys], refs, height=0.4, label="reference", color="#a0aec0")
        ax.set_yticks(list(ys), labels, fontsize=8)
        ax.set_xlabel(unit)
        ax.invert_yaxis()
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path = CHARTS / f"{name}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"benchmarks/{path.name}"


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
        ref = _fmt(r.get("reference"))
        if ref and r.get("reference_name"):
            ref = f"{ref} ({r['reference_name']})"
        meets = {True: "yes", False: "**no**", None: ""}[r.get("meets_target")]
        lines.append(
            f"| {r['metric']} | {_fmt(r.get('value'))} | {r['unit']} | {ref} | "
            f"{_fmt(r.get('ratio'))} | {r.get('target', '')} | {meets} |"
        )
    series = data.get("series")
    chart = _scale_chart(name, series) if series else _chart(name, data["results"])
    if chart:
        lines += ["", f"![{name}]({chart})"]
        if name in CAPTIONS:
            lines += ["", CAPTIONS[name]]
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
    ]
    missing = [n for n in ORDER if n not in found]
    if missing:
        out += [f"Not run yet: {', '.join(missing)}.", ""]
    for name in names:
        out += _section(found[name])
    (DOCS / "benchmarks.md").write_text("\n".join(out))
    print("wrote", DOCS / "benchmarks.md")


if __name__ == "__main__":
    main()
