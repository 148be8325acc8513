"""``romana ipam ...`` and ``romana decode``: address allocations, and what an address means."""

from __future__ import annotations

import operator
from typing import Annotated, Any

import typer

from romana.cli import context, output
from romana.cli.context import OutputOption
from romana.core.errors import InvalidInput

app = context.group("Address allocations: list, show, allocate, move, workload, release.")

FIELDS: list[output.Column] = [
    *(
        (key.capitalize(), operator.itemgetter(key))
        for key in ("key", "host", "tenant", "segment", "addresses")
    ),
    ("Workload", lambda allocation: allocation.get("workload")),
]
"""``ipam show``: every key of an allocation, labelled by its name; a dash for no workload."""

COLUMNS: list[output.Column] = [(label.upper(), get) for label, get in FIELDS]
"""``ipam list``: the same keys, one column each."""


def _show(ctx: typer.Context, allocation: Any, out: output.Format | None) -> None:
    output.emit(allocation, context.state(ctx).fmt(out), fields=FIELDS)


@app.command("list")
def list_allocations(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option("--host", help="Only on this host.")] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only of this tenant.")] = None,
    out: OutputOption = None,
) -> None:
    """List allocations, optionally of one host or one tenant.

    Example: romana ipam list --tenant acme
    """
    rows = context.state(ctx).client().list_allocations(host, tenant)
    output.emit(rows, context.state(ctx).fmt(out), columns=COLUMNS)


@app.command("show")
def show(ctx: typer.Context, key: str, out: OutputOption = None) -> None:
    """Show one allocation by key.

    Example: romana ipam show web-1
    """
    _show(ctx, context.state(ctx).client().get_allocation(key), out)


@app.command("allocate")
def allocate(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Host the endpoint lives on.")],
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant of the endpoint.")],
    segment: Annotated[str, typer.Option("--segment", help="Segment of the tenant.")] = "default",
    key: Annotated[
        str | None,
        typer.Option("--key", help="Idempotency key; the same key returns the same addresses."),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help="This address in its network; it must encode the host, tenant and segment.",
        ),
    ] = None,
    out: OutputOption = None,
) -> None:
    """Allocate an address for an endpoint (one per network of the tenant on that host):
    the lowest free one, or in its network the one --address names.

    Example: romana ipam allocate --host h1 --tenant acme --segment web --key web-1
    """
    import secrets

    key = key or f"cli-{secrets.token_hex(6)}"
    client = context.state(ctx).client()
    _show(ctx, client.allocate(key, host, tenant, segment, address), out)


@app.command("move")
def move(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Key of the allocation.")],
    host: Annotated[str, typer.Option("--host", help="Host the endpoint lives on now.")],
    out: OutputOption = None,
) -> None:
    """Move an allocation to another host, keeping its addresses (a migrated VM); every host
    then routes them there. Moved back to the host they encode, they need no exception route.

    Example: romana ipam move vm-1 --host h2
    """
    _show(ctx, context.state(ctx).client().move_allocation(key, host), out)


@app.command("workload")
def workload(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Key of the allocation.")],
    text: Annotated[str, typer.Argument(help="What holds it: 1-256 printable ASCII characters.")],
    out: OutputOption = None,
) -> None:
    """Say what holds an allocation (the Docker plugin says docker:<container id> itself).

    Example: romana ipam workload vm-1 vm:nova-3f1c2a
    """
    _show(ctx, context.state(ctx).client().set_workload(key, text), out)


@app.command("release")
def release(
    ctx: typer.Context,
    key: Annotated[str | None, typer.Argument(help="Key of the allocation.")] = None,
    address: Annotated[
        str | None, typer.Option("--address", help="Release the allocation holding this address.")
    ] = None,
    out: OutputOption = None,
) -> None:
    """Release an allocation, by key or by one of its addresses.

    Example: romana ipam release web-1   (or: romana ipam release --address 10.1.17.1)
    """
    if (key is None) == (address is None):
        raise InvalidInput("give either a KEY or --address, not both and not neither")
    client = context.state(ctx).client()
    allocation = client.release(key) if key is not None else client.release_address(str(address))
    if context.state(ctx).fmt(out) is output.Format.table:
        addresses = ", ".join(allocation["addresses"])
        output.message(f"released {allocation['key']} ({addresses})")
    else:
        _show(ctx, allocation, out)


def _host(d: Any) -> str:
    encoded = f"{d['host'] or '(no host)'} (index {d['host_index']})"
    if d.get("lives_on"):
        return f"encodes host {encoded}, lives on {d['lives_on']}"
    return encoded


def _tenant(d: Any) -> str:
    if d["tenant_id"] == 0:
        return "infrastructure (id 0)"
    return f"{d['tenant']} (id {d['tenant_id']})" if d["tenant"] else f"id {d['tenant_id']} (none)"


def _segment(d: Any) -> str:
    if d["tenant_id"] == 0:
        return "-"
    if d["segment"]:
        return f"{d['segment']} (id {d['segment_id']})"
    return f"id {d['segment_id']} (none)"


DECODE_FIELDS: list[output.Column] = [
    ("Address", lambda d: d["address"]),
    ("Network", lambda d: d["network"]),
    ("Host", _host),
    ("Host prefix", lambda d: d["host_prefix"]),
    ("Tenant", _tenant),
    ("Segment", _segment),
    (
        "Endpoint",
        lambda d: f"ordinal {d['ordinal']}" + (" (host gateway)" if d.get("is_gateway") else ""),
    ),
    ("Allocation", lambda d: (d.get("allocation") or {}).get("key") or "(free)"),
]


def decode(ctx: typer.Context, address: str, out: OutputOption = None) -> None:
    """Explain an address: network, host, tenant, segment, endpoint, allocation.

    Example: romana decode 10.1.17.1
    """
    decoded = context.state(ctx).client().decode(address)
    output.emit(decoded, context.state(ctx).fmt(out), fields=DECODE_FIELDS)
