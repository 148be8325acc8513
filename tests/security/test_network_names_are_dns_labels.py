"""Network names are DNS-1123 labels.

Issue 12, Low point "names": a network could be named anything non-empty (``Pods_V4``,
``pods v4``), so two networks could differ only in case and names could not be used where
DNS labels are expected. Now a topology document's network names must be DNS-1123 labels
(1-63 lower-case letters, digits and ``-``, alphanumeric at both ends), and so must the
networks a tenant asks for. A topology an earlier release stored with other names keeps
working, and the next document renames them (a rename moves the network's state).

A real romanad over SQLite for the API; a store written as an earlier release would, for
the upgrade.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from romana.core import names
from romana.core.errors import InvalidInput
from romana.core.identifiers import AllocationKey, HostName, TenantName
from romana.core.store import Put
from romana.services import keys, txn
from romana.services.ipam import IpamService
from romana.services.tenants import TenantService
from romana.services.topology import TopologyService
from romana.store.sqlite import SQLiteStore
from unit.api.conftest import TOPOLOGY, Api, start


def named(name: str) -> dict[str, Any]:
    doc = copy.deepcopy(TOPOLOGY)
    doc["networks"][0]["name"] = name
    doc["topologies"][0]["networks"] = [name]
    return doc


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    daemon = start(tmp_path_factory.mktemp("networks"))
    try:
        yield Api(daemon)
    finally:
        daemon.stop()


@pytest.mark.parametrize("name", ["Pods", "pods_v4", "pods.v4", "-pods", "pods-", "p" * 64])
def test_a_document_must_name_networks_with_dns_labels(api: Api, name: str) -> None:
    r = api.admin.put("/v1/topology", json=named(name))
    assert r.status_code == 422, r.text
    issues = {i["field"]: i["rule"] for i in r.json()["issues"]}
    assert names.NETWORK_RULE in issues["networks[0].name"], issues
    assert [n["name"] for n in api.admin.get("/v1/networks").json()] == ["pods"]


def test_a_tenant_may_ask_only_for_dns_label_networks(api: Api) -> None:
    r = api.admin.post("/v1/tenants", json={"name": "asks", "networks": ["Pods"]})
    assert r.status_code == 422, r.text
    [issue] = r.json()["issues"]
    assert issue["field"] == "networks[0]"
    assert names.NETWORK_RULE in issue["rule"]
    r = api.admin.post("/v1/tenants", json={"name": "asks", "networks": ["pods"]})
    assert r.status_code == 201, r.text


def test_a_topology_stored_with_other_names_keeps_working_until_renamed(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "r.db")
    try:
        legacy = named("Pods_V4")
        legacy["topologies"][0]["map"][0]["groups"] = [
            {"name": "Old_Host", "ip": "192.0.2.1", "labels": {"rack id": "1"}}
        ]
        legacy["topologies"][0]["map"][0]["assignment"] = {}
        store.txn([], [Put(keys.TOPOLOGY, txn.dumps(legacy))])
        topology = TopologyService(store)
        tenants = TenantService(store, topology)
        ipam = IpamService(store, topology, tenants)
        assert [n["name"] for n in topology.networks()] == ["Pods_V4"]
        tenants.create(TenantName("t1"))
        first = ipam.allocate(AllocationKey("pod-1"), HostName("Old_Host"), TenantName("t1"))
        with pytest.raises(InvalidInput) as caught:
            topology.apply(topology.document())
        assert "networks[0].name" in {i.field for i in caught.value.issues}
        renamed = topology.document()
        renamed["networks"][0]["name"] = "pods-v4"
        renamed["topologies"][0]["networks"] = ["pods-v4"]
        renamed["topologies"][0]["map"][0]["groups"][0]["labels"] = {"rack": "1"}
        topology.apply(renamed)
        assert ipam.get(AllocationKey("pod-1")).addresses == first.addresses
        assert tenants.get(TenantName("t1")).ids == {"pods-v4": 1}
    finally:
        store.close()
