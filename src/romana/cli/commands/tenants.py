"""``romana tenant ...`` and ``romana segment ...``: tenants and their segments."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Annotated, Any

import typer

from romana.cli import context, output
from romana.cli.context import OutputOption

app = context.group("Tenants: list, show, create, delete, change isolation.")


class Mode(enum.StrEnum):
    romana = "romana"
    kubernetes = "kubernetes"


class Segments(enum.StrEnum):
    isolated = "isolated"
    open = "open"


MODE_HELP = (
    "romana: endpoints accept only their own tenant and segment unless a policy allows more; "
    "kubernetes: NetworkPolicy semantics (endpoints no ingress policy selects accept all)."
)
SEGMENTS_HELP = (
    "romana mode: isolated (default) or open (every segment of the tenant reaches every other)."
)
ModeOption = Annotated[Mode, typer.Option("--isolation", help=MODE_HELP)]
SegmentsOption = Annotated[Segments, typer.Option("--segments", help=SEGMENTS_HELP)]
OwnerOption = Annotated[
    str | None,
    typer.Option("--owner", help="The openstack user that acts in the tenant (none: nobody)."),
]
segments = context.group("Segments of a tenant: list, add, remove.")


def isolation_text(tenant: Any) -> str:
    """``romana, segments isolated`` / ``romana, segments open`` / ``kubernetes``."""
    raw = tenant.get("isolation") or {}
    mode = raw.get("mode", "romana")
    return str(mode) if mode != "romana" else f"romana, segments {raw.get('segments', 'isolated')}"


_TENANT_ATTRIBUTES: list[tuple[str | None, str, Callable[[Any], Any]]] = [
    # (column of `tenant list`, or None for none; label of `tenant show`; value)
    ("NAME", "Name", lambda t: t["name"]),
    ("ISOLATION", "Isolation", isolation_text),
    ("EXTERNAL ID", "External ID", lambda t: t.get("external_id")),
    ("IDS (network=id)", "Tenant ids", lambda t: t.get("ids")),
    ("SEGMENTS (name=id)", "Segments", lambda t: t.get("segments")),
    (None, "Requested networks", lambda t: t.get("requested_networks")),
    (None, "Owner", lambda t: t.get("owner")),
]

TENANT_COLUMNS: list[output.Column] = [
    (column, get) for column, _, get in _TENANT_ATTRIBUTES if column is not None
]
TENANT_FIELDS: list[output.Column] = [(label, get) for _, label, get in _TENANT_ATTRIBUTES]


def show_tenant(ctx: typer.Context, tenant: Any, fmt: output.Format | None) -> None:
    output.emit(tenant, context.state(ctx).fmt(fmt), fields=TENANT_FIELDS)


context.list_command(
    app,
    "List tenants with their id in each network and their segments.\n\n"
    "Example: romana tenant list -o json",
    lambda client: client.list_tenants(),
    TENANT_COLUMNS,
)
context.show_command(
    app,
    "Show one tenant.\n\nExample: romana tenant show acme",
    lambda client, name: client.get_tenant(name),
    TENANT_FIELDS,
)


@app.command("create")
def create(
    ctx: typer.Context,
    name: str,
    external_id: Annotated[
        str | None, typer.Option("--external-id", "-i", help="Id of the tenant elsewhere.")
    ] = None,
    network: Annotated[
        list[str] | None,
        typer.Option("--network", "-n", help="Pin the tenant to this network (repeatable)."),
    ] = None,
    mode: ModeOption = Mode.romana,
    segments: SegmentsOption = Segments.isolated,
    owner: OwnerOption = None,
    out: OutputOption = None,
) -> None:
    """Create a tenant; it gets an id in every network it may use.

    Its isolation is set now; only an admin changes it later (romana tenant isolation).
    With --owner, that openstack-role user (Neutron's drivers) may act in it.

    Example: romana tenant create acme --external-id 4f1c --network net --segments open
    """
    isolation = {"mode": mode.value, "segments": segments.value}
    client = context.state(ctx).client()
    tenant = client.create_tenant(name, external_id, network, isolation=isolation, owner=owner)
    show_tenant(ctx, tenant, out)


@app.command("isolation")
def set_isolation(
    ctx: typer.Context,
    name: str,
    mode: ModeOption = Mode.romana,
    segments: SegmentsOption = Segments.isolated,
    out: OutputOption = None,
) -> None:
    """Change how a tenant's endpoints are isolated (admin only).

    Every endpoint of the tenant changes at once: in romana mode opening segments lets all
    its segments reach each other; kubernetes mode opens every endpoint no ingress policy
    selects to everyone.

    Example: romana tenant isolation acme --segments open
    """
    isolation = {"mode": mode.value, "segments": segments.value}
    show_tenant(ctx, context.state(ctx).client().set_isolation(name, isolation), out)


@app.command("owner")
def set_owner(
    ctx: typer.Context,
    name: str,
    owner: OwnerOption = None,
    out: OutputOption = None,
) -> None:
    """Hand a tenant to an openstack-role user, e.g. Neutron's drivers (admin only).

    Without --owner the tenant is taken back: no openstack user acts in it.

    Example: romana tenant owner acme --owner neutron
    """
    show_tenant(ctx, context.state(ctx).client().set_tenant_owner(name, owner), out)


context.remove_command(
    app,
    "delete",
    "Delete a tenant (refused while it holds addresses).\n\nExample: romana tenant delete acme",
    lambda client, name: client.delete_tenant(name),
    lambda tenant: f"tenant {tenant['name']} deleted",
)


SEGMENT_COLUMNS: list[output.Column] = [
    ("TENANT", lambda r: r[0]),
    ("SEGMENT", lambda r: r[1]),
    ("ID", lambda r: r[2]),
]


@segments.command("list")
def list_segments(ctx: typer.Context, tenant: list[str], out: OutputOption = None) -> None:
    """List the segments of one or more tenants.

    Example: romana segment list acme
    """
    client = context.state(ctx).client()
    found = [client.get_tenant(t) for t in tenant]
    rows = [(t["name"], seg, sid) for t in found for seg, sid in t["segments"].items()]
    value = {t["name"]: t["segments"] for t in found}
    output.emit(value, context.state(ctx).fmt(out), columns=SEGMENT_COLUMNS, rows=rows)


@segments.command("add")
def add_segment(ctx: typer.Context, tenant: str, segment: str, out: OutputOption = None) -> None:
    """Add a segment to a tenant.

    Example: romana segment add acme web
    """
    show_tenant(ctx, context.state(ctx).client().add_segment(tenant, segment), out)


@segments.command("remove")
def remove_segment(ctx: typer.Context, tenant: str, segment: str, out: OutputOption = None) -> None:
    """Remove a segment from a tenant.

    Example: romana segment remove acme web
    """
    show_tenant(ctx, context.state(ctx).client().remove_segment(tenant, segment), out)
