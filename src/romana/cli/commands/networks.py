"""``romana network ...``: the networks of the address plan, their field widths and blackouts."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

import typer

from romana.cli import context, output
from romana.cli.context import OutputOption
from romana.core.errors import NotFound

app = context.group("Networks of the address plan: list, show, blackout ranges.")
blackouts = context.group(
    "Blackouts: address ranges of a network that IPAM never hands out (routers, VIPs, "
    "addresses used outside Romana). list, add, remove."
)
app.add_typer(blackouts, name="blackout")


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


context.list_command(
    app,
    "List networks: CIDR and the widths of the topology, tenant, segment, endpoint fields.\n\n"
    "Example: romana network list",
    lambda client: client.list_networks(),
    COLUMNS,
)


@app.command("show")
def show(ctx: typer.Context, name: str, out: OutputOption = None) -> None:
    """Show one network.

    Example: romana network show net -o yaml
    """
    output.emit(_network(ctx, name), context.state(ctx).fmt(out), fields=FIELDS)


def _network(ctx: typer.Context, name: str) -> dict[str, Any]:
    for network in context.state(ctx).client().list_networks():
        if network["name"] == name:
            return network
    raise NotFound(f"network {name!r} does not exist")


BLACKOUT_COLUMNS: list[output.Column] = [
    ("CIDR", str),
    ("FIRST", lambda n: n.network_address),
    ("LAST", lambda n: n.broadcast_address),
    ("ADDRESSES", lambda n: n.num_addresses),
]

NetworkArg = Annotated[str, typer.Argument(help="The network's name (see romana network list).")]
CidrsArg = Annotated[
    list[str],
    typer.Argument(help="Address ranges inside the network, e.g. 10.0.16.0/30 or 10.0.16.9/32."),
]


def _emit_blackouts(ctx: typer.Context, network: dict[str, Any], out: Any, value: Any) -> None:
    """The ranges as a table; ``value`` (the API's answer) unchanged as JSON or YAML."""
    fmt = context.state(ctx).fmt(out)
    ranges = network["blackouts"]
    if fmt is output.Format.table and not ranges:
        output.message(f"network {network['name']} has no blackouts")
        return
    rows = [ipaddress.ip_network(c) for c in ranges]
    output.emit(value, fmt, columns=BLACKOUT_COLUMNS, rows=rows)


@blackouts.command("list")
def list_blackouts(ctx: typer.Context, network: NetworkArg, out: OutputOption = None) -> None:
    """List a network's blackout ranges and how many addresses each holds back.

    -o json prints the list of CIDRs.

    Example: romana network blackout list net
    """
    found = _network(ctx, network)
    _emit_blackouts(ctx, found, out, found["blackouts"])


@blackouts.command("add")
def add_blackouts(
    ctx: typer.Context, network: NetworkArg, cidrs: CidrsArg, out: OutputOption = None
) -> None:
    """Black out address ranges: IPAM never hands out an address inside them.

    The other ranges stay; a range that is blacked out already is left as it is. A range
    holding an allocated address is refused, and nothing changes: the error names each such
    address with its allocation key, host, tenant and segment (free it with romana ipam
    release KEY first). -o json prints the network.

    Example: romana network blackout add net 10.0.16.0/30 10.0.32.9/32
    """
    changed = context.state(ctx).client().add_blackouts(network, cidrs)
    _emit_blackouts(ctx, changed, out, changed)


@blackouts.command("remove")
def remove_blackouts(
    ctx: typer.Context, network: NetworkArg, cidrs: CidrsArg, out: OutputOption = None
) -> None:
    """Stop blacking out address ranges: IPAM may hand their addresses out again.

    Give each range as it was added (see romana network blackout list); the other ranges
    stay. A range that is not a blackout of the network is an error, and nothing is removed.
    -o json prints the network.

    Example: romana network blackout remove net 10.0.16.0/30
    """
    changed = context.state(ctx).client().remove_blackouts(network, cidrs)
    _emit_blackouts(ctx, changed, out, changed)
