"""``romana route show HOST``: the routes a host uses, where each came from, and why.

A host's routes come from two places: romanad's route plan, which its agent installs itself
(``direct``), and, in ``bgp`` route mode, its BIRD, which learns them from its BGP peers
(``bgp <peer>``, from the agent's latest routing report, ``GET /v1/hosts/{name}/routing``).
A host whose agent sent no report yet shows its planned routes only, and says so.
"""

from __future__ import annotations

import contextlib
from typing import Any

import typer

from romana.cli import context, output
from romana.cli.context import OutputOption
from romana.core.errors import NotFound

app = context.group("Routes of a host: show.")


def _reason(r: dict[str, Any]) -> str:
    if r.get("source") == "bgp":
        backup = "" if r.get("best", True) else "; a backup, not in the kernel"
        return f"learned by BIRD (session {r.get('protocol') or '?'}){backup}"
    return f"exception: {r['reason']}" if r.get("moved_from") else str(r["reason"])


COLUMNS: list[output.Column] = [
    ("DESTINATION", lambda r: r["dst"]),
    ("VIA", lambda r: r["via"] or "-"),
    (
        "SOURCE",
        lambda r: f"bgp {r['peer_name'] or r['peer']}" if r["source"] == "bgp" else "direct",
    ),
    ("REASON", _reason),
]


def _learned(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's learned routes, each with its peer's name in the topology ('' for a
    peer named by address only)."""
    names = {s["name"]: s.get("peer_name", "") for s in report.get("sessions", [])}
    return [
        {**r, "peer_name": names.get(r.get("protocol", ""), "")}
        for r in report.get("routes", [])
        if r.get("source") == "bgp"
    ]


def routes_of(plan: dict[str, Any], report: dict[str, Any] | None) -> dict[str, Any]:
    """The plan with every route's ``source``, the report's learned routes after the planned
    ones, and the report's mode and age (``routing``: None without a report)."""
    planned = [{**r, "source": "direct"} for r in plan.get("routes", [])]
    learned = _learned(report) if report is not None else []
    summary = None
    if report is not None:
        summary = {k: report[k] for k in ("mode", "age", "reported_at", "errors") if k in report}
    return {**plan, "routes": planned + learned, "routing": summary}


@app.command("show")
def show(ctx: typer.Context, host: str, out: OutputOption = None) -> None:
    """Show a host's routes and where each came from: ``direct`` (romanad's route plan,
    installed by the agent) or ``bgp PEER`` (learned by the host's BIRD from that peer, as
    its agent last reported), its prefixes and gateways, and the prefixes left without a
    route (a host lacking an underlay address of their family).

    Example: romana route show h1
    """
    client = context.state(ctx).client()
    plan = client.routes(host)
    report: dict[str, Any] | None = None
    with contextlib.suppress(NotFound):
        report = client.routing(host)
    shown = routes_of(plan, report)
    fmt = context.state(ctx).fmt(out)
    if fmt is not output.Format.table:
        output.emit(shown, fmt)
        return
    output.message(
        f"host {plan['host']}: prefixes {output.text(plan.get('prefixes'))}; "
        f"gateways {output.text(plan.get('gateways'))}; "
        f"{'routes aggregated by group' if plan.get('aggregate') else 'one route per host'}"
    )
    output.emit(shown, fmt, columns=COLUMNS, rows=shown["routes"])
    for skipped in plan.get("skipped", []):
        output.message(f"no route to {skipped['dst']}: {skipped['reason']}")
    for address in plan.get("moved_here", []):
        output.message(f"{address} moved here from another host: routed to its endpoint")
    if report is None:
        output.message(f"no routing report from host {host} yet: routes it learned are unknown")
    else:
        output.message(
            f"routing report: {report['mode']} mode, {_age(report['age'])} old"
            + "".join(f"; {e}" for e in report.get("errors", []))
        )


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
