"""``romana quota ...``: the per-tenant quotas of policies, allocations and segments.

Without ``--tenant`` the commands read or change the defaults every tenant without an
override of its own gets; with it, that tenant's limits in force, overrides and usage.
Changing either is for admins only; whoever may read a tenant may read its quota.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from romana.cli import context, output
from romana.cli.context import OutputOption
from romana.core.errors import InvalidInput

app = context.group("Quotas of policies, allocations and segments: show, set.")

TenantOption = Annotated[
    str | None,
    typer.Option("--tenant", "-t", help="This tenant's quota; without it, the defaults."),
]
QUOTAS = ("policies", "allocations", "segments")


def _tenant_rows(report: Any) -> list[tuple[str, Any, Any, str]]:
    override = report.get("override") or {}
    return [
        (
            name,
            report["usage"][name],
            report["limits"][name],
            "tenant" if name in override else "default",
        )
        for name in QUOTAS
    ]


TENANT_COLUMNS: list[output.Column] = [
    ("QUOTA", lambda r: r[0]),
    ("USAGE", lambda r: r[1]),
    ("LIMIT", lambda r: r[2]),
    ("SET BY", lambda r: r[3]),
]
DEFAULT_FIELDS: list[output.Column] = [
    ("Policies", lambda d: d["policies"]),
    ("Allocations", lambda d: d["allocations"]),
    ("Segments", lambda d: d["segments"]),
]


def _emit(ctx: typer.Context, value: Any, tenant: str | None, out: output.Format | None) -> None:
    fmt = context.state(ctx).fmt(out)
    if tenant is None:
        output.emit(value, fmt, fields=DEFAULT_FIELDS)
    else:
        output.emit(value, fmt, columns=TENANT_COLUMNS, rows=_tenant_rows(value))


@app.command("show")
def show(ctx: typer.Context, tenant: TenantOption = None, out: OutputOption = None) -> None:
    """Show the quota defaults, or one tenant's limits, overrides and usage.

    Example: romana quota show --tenant acme
    """
    client = context.state(ctx).client()
    value = client.quota_defaults() if tenant is None else client.tenant_quota(tenant)
    _emit(ctx, value, tenant, out)


@app.command("set")
def set_quota(
    ctx: typer.Context,
    tenant: TenantOption = None,
    policies: Annotated[
        int | None, typer.Option("--policies", min=0, help="Policies the tenant may own.")
    ] = None,
    allocations: Annotated[
        int | None,
        typer.Option("--allocations", min=0, help="Addresses (allocation keys) it may hold."),
    ] = None,
    segments: Annotated[
        int | None,
        typer.Option("--segments", min=0, help="Segments it may have, default included."),
    ] = None,
    out: OutputOption = None,
) -> None:
    """Change the quota defaults, or one tenant's quotas (admin only).

    Quotas not named stay as they are. Lowering one below what a tenant holds takes nothing
    away; it refuses more until the tenant is under it again.

    Example: romana quota set --tenant acme --policies 2000 --allocations 100000
    """
    given = {"policies": policies, "allocations": allocations, "segments": segments}
    changes = {k: v for k, v in given.items() if v is not None}
    if not changes:
        raise InvalidInput("give at least one of --policies, --allocations, --segments")
    client = context.state(ctx).client()
    if tenant is None:
        value: Any = client.set_quota_defaults(changes)
    else:
        value = client.set_tenant_quota(tenant, changes)
    _emit(ctx, value, tenant, out)
