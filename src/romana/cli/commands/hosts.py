"""``romana host ...``: hosts, where the topology placed them, and their labels."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from romana.cli import context, output
from romana.cli.context import OutputOption
from romana.core.errors import Issues

app = context.group("Hosts: list, show, add, remove, label.")

COLUMNS: list[output.Column] = [
    ("NAME", lambda h: h["name"]),
    ("IP", lambda h: " ".join(a for a in (h["ip"], h.get("ip6")) if a)),
    ("GROUP", lambda h: h.get("group")),
    ("PREFIXES", lambda h: h.get("prefixes")),
    ("LABELS", lambda h: h.get("labels")),
]

FIELDS: list[output.Column] = [
    ("Name", lambda h: h["name"]),
    ("IP", lambda h: h["ip"]),
    ("IPv6", lambda h: h.get("ip6")),
    ("Group", lambda h: h.get("group")),
    ("Prefixes", lambda h: h.get("prefixes")),
    ("Gateways", lambda h: h.get("gateways")),
    ("Labels", lambda h: h.get("labels")),
]


def _show(ctx: typer.Context, host: Any, out: output.Format | None) -> None:
    output.emit(host, context.state(ctx).fmt(out), fields=FIELDS)


def parse_labels(items: list[str], *, allow_removal: bool) -> tuple[dict[str, str], set[str]]:
    """``k=v`` pairs to set and (when allowed) ``k-`` keys to remove; all problems at once."""
    issues = Issues("labels")
    labels: dict[str, str] = {}
    removed: set[str] = set()
    for i, item in enumerate(items):
        if "=" in item:
            key, value = item.split("=", 1)
            if key:
                labels[key] = value
                continue
        elif allow_removal and item.endswith("-") and len(item) > 1:
            removed.add(item[:-1])
            continue
        rule = "must be key=value or key- (to remove)" if allow_removal else "must be key=value"
        issues.add(f"[{i}] {item!r}", rule)
    issues.raise_if_any()
    return labels, removed


context.list_command(
    app,
    "List hosts with their group and their prefix in each network.\n\nExample: romana host list",
    lambda client: client.list_hosts(),
    COLUMNS,
)
context.show_command(
    app,
    "Show one host: prefixes, gateways, labels.\n\nExample: romana host show h1",
    lambda client, name: client.get_host(name),
    FIELDS,
)


@app.command("add")
def add(
    ctx: typer.Context,
    name: str,
    ip: str,
    label: Annotated[
        list[str] | None,
        typer.Option("--label", "-l", help="key=value, repeatable; places the host in groups."),
    ] = None,
    ip6: Annotated[
        str | None,
        typer.Option(
            "--ip6", help="IPv6 underlay address beside an IPv4 IP: the next hop of IPv6 networks."
        ),
    ] = None,
    out: OutputOption = None,
) -> None:
    """Add a host; the topology places it by its labels and gives it a prefix.

    Example: romana host add h4 192.168.0.4 --ip6 2001:db8::4 --label rack=b
    """
    labels, _ = parse_labels(label or [], allow_removal=False)
    _show(ctx, context.state(ctx).client().add_host(name, ip, labels or None, ip6), out)


context.remove_command(
    app,
    "remove",
    "Remove a host (its prefix becomes free).\n\nExample: romana host remove h4",
    lambda client, name: client.remove_host(name),
    lambda host: f"host {host['name']} removed",
)


@app.command("label")
def label(
    ctx: typer.Context,
    name: str,
    changes: Annotated[list[str], typer.Argument(help="key=value to set, key- to remove.")],
    out: OutputOption = None,
) -> None:
    """Set or remove labels of a host.

    Example: romana host label h1 rack=b zone-
    """
    labels, removed = parse_labels(changes, allow_removal=True)
    client = context.state(ctx).client()
    current = dict(client.get_host(name).get("labels") or {})
    current.update(labels)
    for key in removed:
        current.pop(key, None)
    _show(ctx, client.label_host(name, current), out)
