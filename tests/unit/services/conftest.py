"""Service fixtures: a fresh store per test, the sample topology applied."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from romana.core.identifiers import HostName
from romana.core.store import Store
from romana.services.ipam import IpamService
from romana.services.tenants import TenantService
from romana.services.topology import TopologyService
from romana.store.memory import MemoryStore
from romana.store.sqlite import SQLiteStore

DOC: dict[str, Any] = {
    "networks": [
        {
            "name": "net4",
            "cidr": "10.0.0.0/8",
            "tenant_bits": 4,
            "segment_bits": 4,
            "endpoint_bits": 8,
        },
        {
            "name": "net6",
            "cidr": "fd00:10::/48",
            "tenant_bits": 16,
            "segment_bits": 16,
            "endpoint_bits": 24,
        },
    ],
    "topologies": [
        {
            "networks": ["net4"],
            "map": [
                {"name": "rack-a", "assignment": {"rack": "a"}, "groups": []},
                {"name": "rack-b", "assignment": {"rack": "b"}, "groups": []},
            ],
        }
    ],
}


class Services:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.topology = TopologyService(store)
        self.tenants = TenantService(store, self.topology)
        self.ipam = IpamService(store, self.topology, self.tenants)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s: Store = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "r.db")
    yield s
    s.close()


@pytest.fixture
def svc(store: Store) -> Services:
    s = Services(store)
    s.topology.apply(DOC)
    s.topology.add_host(HostName("h1"), "192.0.2.1", {"rack": "a"})
    s.topology.add_host(HostName("h2"), "192.0.2.2", {"rack": "b"})
    s.topology.add_host(HostName("h3"), "192.0.2.3", {"rack": "b"})
    return s
