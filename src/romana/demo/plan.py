"""The address-plan part of the demo: apply a topology, number tenants, allocate, explain.

Runs the real services over a real store in-process; prints what each field of an address
means, one address decoded, and the routes a host holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from romana.core import addressing, topology
from romana.core.store import Store
from romana.services.ipam import IpamService
from romana.services.tenants import TenantService
from romana.services.topology import TopologyService

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"

HOSTS = (
    ("host-1", "198.18.0.1", {"rack": "1"}),
    ("host-2", "198.18.0.2", {"rack": "2"}),
    ("host-3", "198.18.0.3", {"rack": "2"}),
)
TENANTS = (("blue", ("web", "db")), ("green", ("web", "db")))


@dataclass(frozen=True, slots=True)
class Services:
    topology: TopologyService
    tenants: TenantService
    ipam: IpamService

    @classmethod
    def over(cls, store: Store) -> Services:
        topo = TopologyService(store)
        tenants = TenantService(store, topo)
        return cls(topo, tenants, IpamService(store, topo, tenants))


def load_topology() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((EXAMPLES / "demo-topology.json").read_text())
    return doc


def explain_layout(console: Console, lay: addressing.Layout) -> None:
    table = Table(title=f"network {lay.name} = {lay.cidr}", title_justify="left")
    for col in ("field", "bits", "holds"):
        table.add_column(col)
    table.add_row("network prefix", str(lay.cidr.prefixlen), str(lay.cidr))
    table.add_row(
        "topology (host)",
        str(lay.topology_bits),
        f"{lay.max_hosts} host prefixes of /{lay.host_prefixlen}, carved into groups",
    )
    table.add_row(
        "tenant", str(lay.tenant_bits), f"{lay.max_tenant} user tenants (0 = infrastructure)"
    )
    table.add_row("segment", str(lay.segment_bits), f"{lay.max_segment + 1} segments per tenant")
    table.add_row(
        "endpoint",
        str(lay.endpoint_bits),
        f"{lay.max_ordinal} endpoints per host, tenant and segment",
    )
    console.print(table)


def explain_address(console: Console, svc: Services, address: str) -> None:
    view = svc.topology.view()
    lay = addressing.find_layout(view.layouts, address)
    d = addressing.decode(lay, address)
    host = next(
        (h.name for h in view.topology.hosts if view.host_indices(h.name).get(lay.name) == d.host),
        "?",
    )
    tenant = next((t for t in svc.tenants.list_all() if t.ids.get(lay.name) == d.tenant), None)
    segment = next(
        (s for s, i in (tenant.segments.items() if tenant else ()) if i == d.segment), "?"
    )
    table = Table(title=f"decode {address}", title_justify="left")
    table.add_column("field")
    table.add_column("value")
    table.add_column("meaning")
    table.add_row("network", lay.name, str(lay.cidr))
    table.add_row("host", str(d.host), f"{host}, prefix {d.host_prefix}")
    table.add_row("tenant", str(d.tenant), tenant.name if tenant else "?")
    table.add_row("segment", str(d.segment), segment)
    table.add_row("endpoint", str(d.ordinal), "ordinal inside (host, tenant, segment)")
    m = addressing.segment_match(lay, d.tenant, d.segment)
    table.add_row(
        "match",
        f"{m.value_address}/{m.mask_address}",
        "the one masked match that selects this tenant+segment on every host",
    )
    console.print(table)


def draw_topology(console: Console, svc: Services) -> None:
    view = topology.tree_view(svc.topology.view().topology)
    console.print(topology.draw(view))


def draw_routes(console: Console, svc: Services, host: str) -> None:
    plan = svc.topology.route_plan(host)
    tree = Tree(f"routes on {host} (aggregated by topology group)")
    for route in plan["routes"]:
        why = f"group {route['group']}" if route.get("group") else f"host {route['via_host']}"
        tree.add(f"{route['dst']} via {route['via']} ({route['via_host']})  [dim]{why}[/dim]")
    console.print(tree)
