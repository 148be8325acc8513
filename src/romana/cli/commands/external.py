"""``romana external-pool ...``, ``romana external-ip ...``, ``romana egress-nat ...``:
addresses from outside the romana networks on endpoints, and how endpoints reach outside."""

from __future__ import annotations

import operator
from typing import Annotated, Any

import typer

from romana.cli import context, output
from romana.cli.context import OutputOption

pools = context.group(
    "External address pools: IPv4 and IPv6 CIDRs outside every romana network, whose "
    "addresses are assigned to endpoints. create, list, show, delete."
)
ips = context.group(
    "External IPs: an address of an external pool on an endpoint's interface, so the "
    "endpoint is reached from outside at it. assign, unassign, list."
)
nat = context.group(
    "Egress NAT per romana network: whether endpoints' traffic leaving the romana networks "
    "is masqueraded (on, off, or for listed tenants), and to which CIDRs never. show, set."
)

POOL_FIELDS: list[output.Column] = [
    ("Name", lambda p: p["name"]),
    ("CIDRs", lambda p: p["cidrs"]),
    ("Group", lambda p: p.get("group") or "any host"),
    ("Network", lambda p: p.get("network") or "any endpoint"),
]
POOL_COLUMNS: list[output.Column] = [
    ("NAME", lambda p: p["name"]),
    ("CIDRS", lambda p: p["cidrs"]),
    ("GROUP", lambda p: p.get("group")),
    ("NETWORK", lambda p: p.get("network")),
]
IP_COLUMNS: list[output.Column] = [
    ("ADDRESS", operator.itemgetter("address")),
    ("POOL", operator.itemgetter("pool")),
    ("KEY", lambda ip: ip["key"] or f"vip:{ip.get('vip')}"),
    ("TENANT", operator.itemgetter("tenant")),
]
IP_FIELDS: list[output.Column] = [
    ("Address", lambda ip: ip["address"]),
    ("Pool", lambda ip: ip["pool"]),
    ("Endpoint", lambda ip: ip["key"] or f"the address of VIP {ip.get('vip')}"),
    ("Tenant", lambda ip: ip["tenant"]),
]
NAT_COLUMNS: list[output.Column] = [
    ("NETWORK", lambda n: n["network"]),
    ("MODE", lambda n: n["mode"]),
    ("TENANTS", lambda n: n["tenants"]),
    ("NO-NAT", lambda n: n["no_nat"]),
]
NAT_FIELDS: list[output.Column] = [
    ("Network", lambda n: n["network"]),
    ("Mode", lambda n: n["mode"]),
    ("Tenants", lambda n: n["tenants"] or ("-" if n["mode"] != "tenants" else "none")),
    ("No NAT to", lambda n: n["no_nat"]),
]

PoolArg = Annotated[str, typer.Argument(help="The pool's name (see romana external-pool list).")]
PoolAddressOption = Annotated[
    str | None,
    typer.Option("--address", help="This address of the pool; its lowest free one if not."),
]
"""An external IP's or a VIP's ``--address``: which address of the pool to take."""


def _emit(ctx: typer.Context, value: Any, out: Any, **shape: Any) -> None:
    output.emit(value, context.state(ctx).fmt(out), **shape)


# -- pools -------------------------------------------------------------------------------


@pools.command("create")
def create_pool(
    ctx: typer.Context,
    name: PoolArg,
    cidrs: Annotated[
        list[str], typer.Argument(help="CIDRs outside every romana network and other pool.")
    ],
    group: Annotated[
        str | None,
        typer.Option("--group", help="Only endpoints on hosts of this topology group."),
    ] = None,
    network: Annotated[
        str | None,
        typer.Option("--network", help="Only endpoints with an address in this romana network."),
    ] = None,
    out: OutputOption = None,
) -> None:
    """Create an external pool of one or more CIDRs (IPv4 and IPv6 may mix).

    A CIDR overlapping a romana network, another pool or another CIDR of the pool is refused,
    naming what it overlaps. Creating the same pool again changes nothing; a pool is never
    changed (delete it and create it again).

    Example: romana external-pool create public 203.0.113.0/28 2001:db8:e::/120 --group rack-a
    """
    client = context.state(ctx).client()
    made = client.create_external_pool(name, cidrs, group, network)
    _emit(ctx, made, out, fields=POOL_FIELDS)


context.list_command(
    pools,
    "List external pools: their CIDRs and the group whose hosts may hold their addresses.\n\n"
    "Example: romana external-pool list",
    lambda client: client.list_external_pools(),
    POOL_COLUMNS,
)
context.show_command(
    pools,
    "Show one external pool.\n\nExample: romana external-pool show public",
    lambda client, name: client.get_external_pool(name),
    POOL_FIELDS,
)
context.remove_command(
    pools,
    "delete",
    "Delete an external pool. Refused while any of its addresses is assigned (the error "
    "says how many and names one; romana external-ip unassign ADDRESS frees it).\n\n"
    "Example: romana external-pool delete public",
    lambda client, name: client.delete_external_pool(name),
    lambda pool: f"deleted external pool {pool['name']}",
)


# -- external IPs ------------------------------------------------------------------------


@ips.command("assign")
def assign(
    ctx: typer.Context,
    pool: PoolArg,
    endpoint: Annotated[
        str,
        typer.Argument(help="The endpoint: its allocation key, or one of its romana addresses."),
    ],
    address: PoolAddressOption = None,
    out: OutputOption = None,
) -> None:
    """Assign an external IP of a pool to an endpoint; its host's agent puts it on the
    endpoint's interface.

    Without --address: the pool's lowest free address of the first family (IPv4 first) the
    endpoint has a romana address of. An endpoint holds at most one external IP per family;
    releasing its allocation unassigns them.

    Example: romana external-ip assign public web-1:eth0 --address 203.0.113.5
    """
    client = context.state(ctx).client()
    _emit(ctx, client.assign_external_ip(pool, endpoint, address), out, fields=IP_FIELDS)


@ips.command("unassign")
def unassign(
    ctx: typer.Context,
    address: Annotated[str, typer.Argument(help="The external IP.")],
    out: OutputOption = None,
) -> None:
    """Unassign an external IP: its endpoint keeps its romana addresses.

    Example: romana external-ip unassign 203.0.113.5
    """
    found = context.state(ctx).client().unassign_external_ip(address)
    if context.state(ctx).fmt(out) is output.Format.table:
        output.message(f"unassigned {found['address']} from {found['key']}")
    else:
        _emit(ctx, found, out)


@ips.command("list")
def list_ips(
    ctx: typer.Context,
    pool: Annotated[str | None, typer.Option("--pool", help="Only of this pool.")] = None,
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", help="Only of this allocation key.")
    ] = None,
    out: OutputOption = None,
) -> None:
    """List assigned external IPs, optionally of one pool or one endpoint.

    Example: romana external-ip list --pool public
    """
    found = context.state(ctx).client().list_external_ips(pool, endpoint)
    _emit(ctx, found, out, columns=IP_COLUMNS)


# -- egress NAT --------------------------------------------------------------------------


@nat.command("show")
def show_nat(
    ctx: typer.Context,
    network: Annotated[
        str | None, typer.Argument(help="One network; every network when left out.")
    ] = None,
    out: OutputOption = None,
) -> None:
    """Show the egress NAT of one network, or of every network as a table. A network nobody
    set masquerades (mode on) with no no-NAT CIDRs.

    Example: romana egress-nat show pods
    """
    client = context.state(ctx).client()
    if network is None:
        _emit(ctx, client.list_egress_nat(), out, columns=NAT_COLUMNS)
    else:
        _emit(ctx, client.egress_nat(network), out, fields=NAT_FIELDS)


@nat.command("set")
def set_nat(
    ctx: typer.Context,
    network: Annotated[str, typer.Argument(help="The romana network.")],
    mode: Annotated[
        str,
        typer.Argument(
            help="on (masquerade every endpoint), off (none), tenants (the --tenant ones)."
        ),
    ],
    tenant: Annotated[
        list[str] | None,
        typer.Option("--tenant", help="With mode tenants: a tenant to masquerade; repeat."),
    ] = None,
    no_nat: Annotated[
        list[str] | None,
        typer.Option("--no-nat", help="A destination CIDR never masqueraded; repeat."),
    ] = None,
    out: OutputOption = None,
) -> None:
    """Set a network's egress NAT, replacing what it was: traffic from its endpoints to
    destinations outside every romana network leaves from the host's address (masquerade),
    unless it goes to a --no-nat CIDR.

    Example: romana egress-nat set pods tenants --tenant acme --no-nat 192.168.0.0/16
    """
    client = context.state(ctx).client()
    found = client.set_egress_nat(network, mode, tenant or (), no_nat or ())
    _emit(ctx, found, out, fields=NAT_FIELDS)
