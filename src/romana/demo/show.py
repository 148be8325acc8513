"""What the demo prints: the address plan, one address decoded, routes, the reachability matrix.

Pure presentation over values the demo fetched from romanad and measured on the wire.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from romana.core import addressing, topology


def layout_table(console: Console, net: Mapping[str, Any]) -> None:
    lay = addressing.layout(
        net["name"], net["cidr"], net["tenant_bits"], net["segment_bits"], net["endpoint_bits"]
    )
    table = Table(title=f"network {lay.name} = {lay.cidr}", title_justify="left")
    for col in ("field", "bits", "what it holds"):
        table.add_column(col)
    table.add_row("network prefix", str(lay.cidr.prefixlen), str(lay.cidr))
    table.add_row(
        "topology (host)", str(lay.topology_bits),
        f"{lay.max_hosts} host prefixes of /{lay.host_prefixlen}, carved into groups",
    )  # fmt: skip
    table.add_row(
        "tenant", str(lay.tenant_bits), f"{lay.max_tenant} user tenants (0 = infrastructure)"
    )
    table.add_row("segment", str(lay.segment_bits), f"{lay.max_segment + 1} segments per tenant")
    table.add_row(
        "endpoint", str(lay.endpoint_bits),
        f"{lay.max_ordinal} endpoints per host, tenant and segment",
    )  # fmt: skip
    console.print(table)


def decoded_table(console: Console, decoded: Mapping[str, Any], net: Mapping[str, Any]) -> None:
    lay = addressing.layout(
        net["name"], net["cidr"], net["tenant_bits"], net["segment_bits"], net["endpoint_bits"]
    )
    match = addressing.segment_match(lay, decoded["tenant_id"], decoded["segment_id"])
    table = Table(title=f"romana decode {decoded['address']}", title_justify="left")
    for col in ("field", "value", "meaning"):
        table.add_column(col)
    table.add_row("network", str(decoded["network"]), str(lay.cidr))
    table.add_row(
        "host",
        str(decoded["host_index"]),
        f"{decoded.get('host')}, prefix {decoded['host_prefix']}",
    )
    table.add_row("tenant", str(decoded["tenant_id"]), str(decoded.get("tenant")))
    table.add_row("segment", str(decoded["segment_id"]), str(decoded.get("segment")))
    table.add_row("endpoint", str(decoded["ordinal"]), "ordinal inside (host, tenant, segment)")
    table.add_row(
        "one match", f"{match.value_address}/{match.mask_address}",
        "selects this tenant+segment on every host: the firewall's only per-segment test",
    )  # fmt: skip
    console.print(table)


def tree(console: Console, view: Mapping[str, Any]) -> None:
    console.print(topology.draw(view))


def routes(
    console: Console, host: str, plan: Mapping[str, Any], kernel: Sequence[str], total: int
) -> None:
    table = Table(
        title=f"routes {host} holds to reach the other hosts' workloads", title_justify="left"
    )
    for col in ("destination", "next hop", "why"):
        table.add_column(col)
    for r in plan["routes"]:
        table.add_row(r["dst"], r["via"], r["reason"])
    console.print(table)
    console.print(
        f"  {len(plan['routes'])} route(s) for {total - 1} other host(s); in the kernel of "
        f"{host} (proto 82 = romana):"
    )
    for line in kernel:
        console.print(f"    {line}")


def matrix(
    console: Console,
    names: Sequence[str],
    measured: Mapping[tuple[str, str], bool],
    expected: Mapping[tuple[str, str], bool],
    title: str,
) -> int:
    """Print the matrix; returns how many probes disagreed with the expectation."""
    table = Table(title=title, title_justify="left")
    table.add_column("from \\ to")
    for i, _ in enumerate(names, 1):
        table.add_column(str(i), justify="center")
    wrong = 0
    for i, src in enumerate(names, 1):
        cells = []
        for dst in names:
            if src == dst:
                cells.append("·")
                continue
            ok, want = measured[(src, dst)], expected[(src, dst)]
            word = "allowed" if ok else "denied"
            if ok == want:
                cells.append(f"[green]{word}[/green]" if ok else f"[dim]{word}[/dim]")
            else:
                wrong += 1
                cells.append(f"[bold red]{word} NOT[/bold red]")
        table.add_row(f"{i} {src}", *cells)
    console.print(table)
    return wrong
