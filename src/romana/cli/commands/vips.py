"""``romana vip ...``: VIPs, an external address in front of a set of endpoints, held by one
host at a time."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from romana.cli import context, output
from romana.cli.commands.external import PoolAddressOption
from romana.cli.context import OutputOption

app = context.group(
    "VIPs: an address of an external pool in front of a set of endpoints. One host at a time "
    "holds it (a host where one of its endpoints runs) and spreads new connections over the "
    "endpoints; when that host fails another takes over. create, list, show, set-endpoints, "
    "delete."
)

COLUMNS: list[output.Column] = [
    ("NAME", lambda v: v["name"]),
    ("ADDRESS", lambda v: v["address"]),
    ("POOL", lambda v: v["pool"]),
    ("ENDPOINTS", lambda v: len(v["endpoints"])),
    ("HOLDER", lambda v: v["holder"]),
]
FIELDS: list[output.Column] = [
    ("Name", lambda v: v["name"]),
    ("Address", lambda v: v["address"]),
    ("Pool", lambda v: v["pool"]),
    ("Endpoints", lambda v: v["endpoints"] or "none"),
    ("Held by", lambda v: v["holder"] or "nobody"),
]

NameArg = Annotated[str, typer.Argument(help="The VIP's name (see romana vip list).")]
EndpointsArg = Annotated[
    list[str],
    typer.Argument(help="Endpoints: allocation keys, or romana addresses of endpoints."),
]


def _emit(ctx: typer.Context, value: Any, out: Any) -> None:
    output.emit(value, context.state(ctx).fmt(out), fields=FIELDS)


@app.command("create")
def create(
    ctx: typer.Context,
    name: NameArg,
    pool: Annotated[str, typer.Argument(help="The external pool its address comes from.")],
    endpoints: EndpointsArg,
    address: PoolAddressOption = None,
    out: OutputOption = None,
) -> None:
    """Create a VIP: an address of an external pool in front of endpoints.

    Without --address: the pool's lowest free address of the first family (IPv4 first) the
    endpoints have a romana address of. The address is reserved: no external IP takes it
    until the VIP is deleted. Creating the same VIP again changes nothing.

    Example: romana vip create web public web-1:eth0 web-2:eth0 --address 203.0.113.10
    """
    client = context.state(ctx).client()
    _emit(ctx, client.create_vip(name, pool, endpoints, address), out)


context.list_command(
    app,
    "List VIPs: their address, pool, how many endpoints, and the host holding each now "
    "(empty while none does).\n\nExample: romana vip list",
    lambda client: client.list_vips(),
    COLUMNS,
)
context.show_command(
    app,
    "Show one VIP: its endpoints (allocation keys) and the host holding it.\n\n"
    "Example: romana vip show web",
    lambda client, name: client.get_vip(name),
    FIELDS,
)


@app.command("set-endpoints")
def set_endpoints(
    ctx: typer.Context,
    name: NameArg,
    endpoints: EndpointsArg,
    out: OutputOption = None,
) -> None:
    """Put a VIP in front of these endpoints instead (its address stays). A host that no
    longer has one of them stops holding it, and one that has takes over.

    Example: romana vip set-endpoints web web-1:eth0 web-3:eth0
    """
    _emit(ctx, context.state(ctx).client().set_vip_endpoints(name, endpoints), out)


context.remove_command(
    app,
    "delete",
    "Delete a VIP: its holder stops answering for the address, which is free again.\n\n"
    "Example: romana vip delete web",
    lambda client, name: client.delete_vip(name),
    lambda vip: f"deleted VIP {vip['name']} ({vip['address']})",
)
