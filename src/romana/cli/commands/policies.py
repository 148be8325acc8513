"""``romana policy ...``: Romana policies (v1 or v2 JSON, or the same in YAML)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from romana.cli import context, files, output
from romana.cli.commands import kube
from romana.cli.context import OutputOption

app = context.group("Policies: add, list, show, remove.")


def _clauses(policy: Any) -> list[Any]:
    return [
        c
        for direction in ("ingress", "egress")
        for c in policy.get(direction) or []
        if isinstance(c, dict)
    ]


def _directions(policy: Any) -> str:
    return ", ".join(d for d in ("ingress", "egress") if policy.get(d)) or "-"


def _priority(policy: Any) -> str:
    # Imported here, as every policy-package use: ``romana --help`` imports none of it.
    from romana.core.policy.listing import priority_text

    return priority_text(policy) or "-"


def _action(policy: Any) -> str:
    from romana.core.policy.listing import actions

    return actions(policy) or "-"


COLUMNS: list[output.Column] = [
    ("ID", lambda p: p.get("id")),
    ("TIER", lambda p: p.get("tier") or "-"),
    ("PRIORITY", _priority),
    ("ACTION", _action),
    ("DIRECTION", _directions),
    ("APPLIED TO", lambda p: len(p.get("applied_to", []))),
    ("PEERS", lambda p: sum(len(c.get("peers", [])) for c in _clauses(p))),
    ("RULES", lambda p: sum(len(c.get("rules", [])) for c in _clauses(p))),
    ("DESCRIPTION", lambda p: p.get("description")),
]


@app.command("add")
def add(
    ctx: typer.Context,
    file: Annotated[
        str,
        typer.Option("--file", "-f", help="A policy or a list of them, JSON or YAML; - for stdin."),
    ],
    out: OutputOption = None,
) -> None:
    """Add one or more policies; all problems of all of them are reported at once.

    Example: romana policy add -f allow-web.json
    """
    stored = context.state(ctx).client().add_policies(files.read_document(file))
    output.emit(stored, context.state(ctx).fmt(out), columns=COLUMNS)


class TierFilter(StrEnum):
    ADMIN = "admin"
    NONE = "none"
    BASELINE = "baseline"


@app.command("list")
def list_(
    ctx: typer.Context,
    tier: Annotated[
        TierFilter | None,
        typer.Option("--tier", help="Only this tier: admin, none (ordinary policies) or baseline."),
    ] = None,
    out: OutputOption = None,
) -> None:
    """List policies in evaluation order, with their tier, priority and what they apply to.

    The Admin tier comes first (by priority), then ordinary policies (NetworkPolicies and
    Romana-native ones), then the Baseline tier: first the isolation of each romana-mode
    tenant (other tenants denied unless a policy allows), then Baseline policies by priority.
    The isolation rows (ids isolation:TENANT, kind tenant-isolation) are not stored policies:
    JSON and YAML output lists them only with --tier baseline.

    Example: romana policy list --tier baseline
    """
    found = context.state(ctx)
    client = found.client()
    fmt = found.fmt(out)
    wanted = tier.value if tier is not None else None
    # JSON and YAML list stored policies only (ids `policy show` takes), unless the Baseline
    # tier is asked for by name; a table shows the isolation rows wherever the tier is.
    isolation = tier is TierFilter.BASELINE or (tier is None and fmt is output.Format.table)
    tenants = client.list_tenants() if isolation else ()
    from romana.core.policy import listing

    rows = listing.ordered(client.list_policies(), tenants, wanted)
    output.emit(rows, fmt, columns=COLUMNS)


@app.command("show")
def show(ctx: typer.Context, policy_id: str, out: OutputOption = None) -> None:
    """Show one policy in full (YAML in table mode), by id or by name.

    A tenant's policy has the id TENANT/NAME; a bare name is your tenant's policy of that name,
    else the global one, else the one tenant policy of that name (when several tenants have
    one, the error lists their ids).

    Example: romana policy show web/allow-web
    """
    policy = context.state(ctx).client().get_policy(policy_id)
    fmt = context.state(ctx).fmt(out)
    output.emit(policy, output.Format.yaml if fmt is output.Format.table else fmt)


@app.command("remove")
def remove(ctx: typer.Context, policy_id: str, out: OutputOption = None) -> None:
    """Remove a policy by id (TENANT/NAME, or NAME for a global one) or by bare name.

    A bare name is resolved as for show: it never picks between several tenants' policies.

    Example: romana policy remove web/allow-web
    """
    policy = context.state(ctx).client().remove_policy(policy_id)
    fmt = context.state(ctx).fmt(out)
    if fmt is output.Format.table:
        output.message(f"policy {policy.get('id')} removed")
    else:
        output.emit(policy, fmt)


# Last in the group's help; it shares its reading of Kubernetes YAML with `explain -f`.
app.command("apply")(kube.apply)
