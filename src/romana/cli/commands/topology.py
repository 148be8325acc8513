"""``romana topology ...``: apply a topology document, draw the group tree, export it."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from romana.cli import context, files, output
from romana.cli.context import OutputOption
from romana.core.errors import InvalidInput

app = context.group("The topology: apply, show, get.")


WIDTH_COLUMNS: list[output.Column] = [
    ("network", lambda c: c["network"]),
    ("cidr", lambda c: c["cidr"]),
    (
        "topology / tenant / segment / endpoint bits",
        lambda c: (
            f"{c['topology_bits']} / {c['tenant_bits']} / {c['segment_bits']} / "
            f"{c['endpoint_bits']}"
        ),
    ),
    ("host prefixes", lambda c: f"{c['hosts']} x /{c['host_prefixlen']}"),
    ("user tenants", lambda c: c["tenants"]),
    ("segments per tenant", lambda c: c["segments"]),
    ("endpoints per host, tenant and segment", lambda c: c["endpoints"]),
]


def _widths(view: Any, fmt: output.Format) -> None:
    """The chosen widths of every network and their capacity warnings (``networks`` and
    ``warnings`` of the tree view). Outside table mode only the warnings print, on stderr,
    so that the JSON or YAML on stdout stays the API's value."""
    if fmt is output.Format.table:
        output.console().print(output.table(WIDTH_COLUMNS, view.get("networks", [])))
    for warning in view.get("warnings", []):
        typer.echo(f"warning: {warning}", err=fmt is not output.Format.table)


def _count_hosts(node: Any) -> int:
    if isinstance(node, dict):
        own = 1 if "ip" in node and "groups" not in node else 0
        return own + sum(_count_hosts(v) for v in node.values())
    if isinstance(node, list):
        return sum(_count_hosts(v) for v in node)
    return 0


@app.command("apply")
def apply(
    ctx: typer.Context,
    file: Annotated[
        str, typer.Option("--file", "-f", help="Topology document, JSON or YAML; - for stdin.")
    ],
    out: OutputOption = None,
) -> None:
    """Apply a topology document (ours or Romana v2's); prints what was applied, the widths
    of every network, and a warning for each network whose host prefixes hold fewer
    endpoints per tenant and segment than kubelet's default maxPods (110).

    Example: romana topology apply -f examples/topology/two-racks.json
    """
    document = files.read_document(file)
    if not isinstance(document, dict):
        raise InvalidInput(f"{file}: a topology document is an object, not a list")
    client = context.state(ctx).client()
    applied = client.apply_topology(document)
    fmt = context.state(ctx).fmt(out)
    if fmt is output.Format.table:
        networks = [n.get("name", "?") for n in applied.get("networks", [])]
        output.message(
            f"topology applied: networks {', '.join(networks) or 'none'}; "
            f"{_count_hosts(applied.get('topologies', []))} hosts placed"
        )
    else:
        output.emit(applied, fmt)
    _widths(client.topology_tree(), fmt)


@app.command("show")
def show(ctx: typer.Context, out: OutputOption = None) -> None:
    """Draw the group tree: each group with its prefix per network, and its hosts; then the
    widths of every network, what they hold, and capacity warnings.

    Example: romana topology show
    """
    view = context.state(ctx).client().topology_tree()
    fmt = context.state(ctx).fmt(out)
    if fmt is output.Format.table:
        output.console().print(output.tree(view))
        _widths(view, fmt)
    else:
        output.emit(view, fmt)


@app.command("get")
def get(ctx: typer.Context, out: OutputOption = None) -> None:
    """Print the topology document, in a form that `topology apply` takes back unchanged.

    Example: romana topology get -o yaml > topology.yaml
    """
    document = context.state(ctx).client().get_topology()
    fmt = context.state(ctx).fmt(out)
    output.emit(document, output.Format.json if fmt is output.Format.table else fmt)
