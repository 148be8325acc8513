"""A romanad holding the demo's world, for the web view's tests: no namespaces, no agents.

:func:`populate` gives a romanad (as its admin) the demo's topology (``examples/
demo-topology.json``), its three hosts, its two tenants with two segments each, one
allocation per demo workload plus a few more (so hosts and tenants are not equally full),
the demo's two policies, a routing report from host-1's agent and a tenant user of
``blue``. The web view and the REST API are then asked about the same stored state.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass

from romana.client import Client
from romana.demo.__main__ import EXAMPLES, HOSTS, POLICIES, WORKLOADS

EXTRA = (
    ("blue-web-4", "host-1", "blue", "web"),
    ("blue-web-5", "host-1", "blue", "web"),
    ("blue-db-6", "host-1", "blue", "db"),
)
"""More endpoints on host-1, all of tenant blue: host-1 and blue are the fullest."""
BLUE_USER = "ui-blue"


@dataclass(frozen=True)
class World:
    allocations: dict[str, str]
    """Workload name → its IPv4 address."""
    blue_password: str


def populate(admin: Client) -> World:
    admin.apply_topology(json.loads((EXAMPLES / "demo-topology.json").read_text()))
    for i, (name, labels) in enumerate(HOSTS, start=1):
        key, value = labels.split("=")
        admin.add_host(name, f"192.168.50.{i}", {key: value})
    for tenant in ("blue", "green"):
        admin.create_tenant(tenant)
        for segment in ("web", "db"):
            admin.add_segment(tenant, segment)
    addresses = {}
    for name, host, tenant, segment in (*WORKLOADS, *EXTRA):
        made = admin.allocate(name, host, tenant, segment)
        addresses[name] = next(a for a in made["addresses"] if "." in a).split("/")[0]
    admin.add_policies(list(POLICIES))
    admin.report_routing(
        "host-1",
        {
            "agent": {"version": "0.1.0", "reconciled_at": time.time() - 3, "revision": 7},
            "mode": "direct",
            "reported_at": time.time(),
            "sessions": [],
            "routes": [],
        },
    )
    password = secrets.token_urlsafe(18)
    admin.create_user(BLUE_USER, password, "tenant", tenant="blue")
    return World(addresses, password)
