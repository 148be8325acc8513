"""``romana network ...``: the networks of the address plan and their field widths."""

from __future__ import annotations

import typer

from romana.cli import context, output
from romana.cli.context import OutputOption
from romana.core.errors import NotFound

app = typer.Typer(no_args_is_help=True, help="Networks of the address plan: list, show.")


def _bits(n: dict[str, int]) -> str:
    return (
        f"topology {n['topology_bits']} / tenant {n['tenant_bits']} / "
        f"segment {n['segment_bits']} / endpoint {n['endpoint_bits']}"
    )


COLUMNS: list[output.Column] = [
    ("NAME", lambda n: n["name"]),
    ("CIDR", lambda n: n["cidr"]),
    ("BITS", lambda n: _bits(n)),
    ("TENANTS", lambda n: n.get("tenants")),
    ("BLACKOUTS", lambda n: n.get("blackouts")),
]

FIELDS: list[output.Column] = [
    ("Name", lambda n: n["name"]),
    ("CIDR", lambda n: n["cidr"]),
    ("Topology bits", lambda n: n["topology_bits"]),
    ("Tenant bits", lambda n: n["tenant_bits"]),
    ("Segment bits", lambda n: n["segment_bits"]),
    ("Endpoint bits", lambda n: n["endpoint_bits"]),
    ("Tenants", lambda n: n.get("tenants") or "any"),
    ("Blackouts", lambda n: n.get("blackouts")),
]


@app.command("list")
def list_networks(ctx: typer.Context, out: OutputOption = None) -> None:
    """List networks: CIDR and the widths of the topology, tenant, segment, endpoint fields.

    Example: romana network list
    """
    rows = context.state(ctx).client().list_networks()
    output.emit(rows, context.state(ctx).fmt(out), columns=COLUMNS)


@app.command("show")
def show(ctx: typer.Context, name: str, out: OutputOption = None) -> None:
    """Show one network.

    Example: romana network show net -o yaml
    """
    for network in context.state(ctx).client().list_networks():
        if network["name"] == name:
            output.emit(network, context.state(ctx).fmt(out), fields=FIELDS)
            return
    raise NotFound(f"network {name!r} does not exist")
