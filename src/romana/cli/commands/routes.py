"""``romana route show HOST``: the routes a host's agent installs, and why."""

from __future__ import annotations

import typer

from romana.cli import context, output
from romana.cli.context import OutputOption

app = context.group("Routes of a host: show.")

COLUMNS: list[output.Column] = [
    ("DESTINATION", lambda r: r["dst"]),
    ("VIA", lambda r: r["via"]),
    ("REASON", lambda r: f"exception: {r['reason']}" if r.get("moved_from") else r["reason"]),
]


@app.command("show")
def show(ctx: typer.Context, host: str, out: OutputOption = None) -> None:
    """Show a host's route plan: its prefixes and gateways, every route to other hosts, and
    the prefixes left without a route (a host lacking an underlay address of their family).

    Example: romana route show h1
    """
    plan = context.state(ctx).client().routes(host)
    fmt = context.state(ctx).fmt(out)
    if fmt is not output.Format.table:
        output.emit(plan, fmt)
        return
    output.message(
        f"host {plan['host']}: prefixes {output.text(plan.get('prefixes'))}; "
        f"gateways {output.text(plan.get('gateways'))}; "
        f"{'routes aggregated by group' if plan.get('aggregate') else 'one route per host'}"
    )
    output.emit(plan, fmt, columns=COLUMNS, rows=plan.get("routes", []))
    for skipped in plan.get("skipped", []):
        output.message(f"no route to {skipped['dst']}: {skipped['reason']}")
    for address in plan.get("moved_here", []):
        output.message(f"{address} moved here from another host: routed to its endpoint")
