"""The one Kubernetes sync, pure: documents in, romanad's port written, what changed named.

``romana policy apply`` (through romanad's ``POST /v1/kube/apply``) and the listener run this
code; here it runs over an in-memory port, so what it writes and reports is seen directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from romana.core.errors import InvalidInput
from romana.core.kubernetes import objects as ko
from romana.core.kubernetes import record, sync, translation
from romana.core.vips import Vip

NAMESPACE = {"kind": "Namespace", "metadata": {"name": "shop", "uid": "u-shop"}}
NODE = {
    "kind": "Node",
    "metadata": {"name": "n1", "labels": {"rack": "a"}},
    "status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.1"}]},
}
POD = {
    "kind": "Pod",
    "metadata": {"name": "db", "namespace": "shop", "labels": {"app": "db"}},
    "spec": {"nodeName": "n1"},
    "status": {"podIP": "10.1.17.1"},
}
POLICY = {
    "kind": "NetworkPolicy",
    "metadata": {"name": "db", "namespace": "shop"},
    "spec": {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [{}]},
}
PID = "shop/kube.shop.db"


class Memory:
    """romanad's port as plain dictionaries."""

    def __init__(self) -> None:
        self.tenant_map: dict[str, sync.Known] = {}
        self.host_map: dict[str, dict[str, str]] = {}
        self.policy_map: dict[str, dict[str, Any]] = {}
        self.set_map: dict[str, list[str]] = {}
        self.record: dict[str, Any] = record.record([], [], [])

    def tenants(self) -> dict[str, sync.Known]:
        return dict(self.tenant_map)

    def ensure_tenant(self, name: str, external_id: str) -> bool:
        if name in self.tenant_map:
            return False
        mode = translation.ISOLATION.mode
        self.tenant_map[name] = sync.Known({translation.DEFAULT_SEGMENT}, external_id, mode)
        return True

    def remove_tenant(self, name: str) -> None:
        self.tenant_map.pop(name, None)

    def ensure_segment(self, tenant: str, segment: str) -> None:
        self.tenant_map[tenant].segments.add(segment)

    def hosts(self) -> dict[str, dict[str, str]]:
        return {name: dict(labels) for name, labels in self.host_map.items()}

    def ensure_host(self, name: str, ip: str, labels: Mapping[str, str]) -> None:
        self.host_map[name] = dict(labels)

    def remove_host(self, name: str) -> None:
        self.host_map.pop(name, None)

    def policies(self) -> dict[str, dict[str, Any]]:
        return {pid: {"id": pid, **doc} for pid, doc in self.policy_map.items()}

    def put_policy(self, pid: str, document: Mapping[str, Any]) -> None:
        self.policy_map[pid] = dict(document)

    def remove_policy(self, pid: str) -> None:
        self.policy_map.pop(pid, None)

    def address_sets(self) -> dict[str, list[str]]:
        return dict(self.set_map)

    def put_address_set(self, name: str, members: Sequence[str]) -> None:
        self.set_map[name] = list(members)

    def remove_address_set(self, name: str) -> None:
        self.set_map.pop(name, None)

    def kube_objects(self) -> dict[str, Any]:
        return self.record

    def put_kube_objects(self, rec: Mapping[str, Any]) -> None:
        self.record = dict(rec)

    # Services and external-IP annotations are not among these documents: a sync without
    # them must not touch VIPs or external IPs (test_kube_exposure.py covers them).

    def endpoint_keys(self, addresses: Sequence[str]) -> dict[str, str]:
        raise AssertionError("no endpoint is resolved without Services or annotations")

    def vips(self) -> dict[str, Vip]:
        raise AssertionError("no VIP is read without Services")

    def create_vip(
        self, name: str, pool: str, endpoints: Sequence[str], address: str | None
    ) -> Vip:
        raise AssertionError("no VIP is created without Services")

    def set_vip_endpoints(self, name: str, endpoints: Sequence[str]) -> None:
        raise AssertionError("no VIP is changed without Services")

    def delete_vip(self, name: str) -> None:
        raise AssertionError("no VIP is deleted without Services")

    def external_ips(self) -> dict[str, tuple[str, str]]:
        raise AssertionError("no external IP is read without annotations")

    def assign_external_ip(self, pool: str, endpoint: str, address: str | None) -> tuple[str, bool]:
        raise AssertionError("no external IP is assigned without annotations")

    def unassign_external_ip(self, address: str) -> None:
        raise AssertionError("no external IP is unassigned without annotations")


def test_documents_become_admitted_objects_and_every_bad_one_is_named() -> None:
    (namespace,) = record.of_documents([NAMESPACE])
    assert isinstance(namespace, ko.Namespace)
    assert dict(namespace.labels) == {ko.NAME_LABEL: "shop"}, "labelled as the API server does"
    bad_pod = {**POD, "metadata": {"namespace": "shop"}}
    with pytest.raises(InvalidInput) as caught:
        record.of_documents([NAMESPACE, bad_pod, {"kind": "Secret"}, "text"])
    text = str(caught.value)
    assert "document 2" in text and "document 3" in text and "document 4" in text
    assert "document 1" not in text


def test_apply_writes_once_and_names_each_change() -> None:
    port = Memory()
    first = sync.apply(port, [NAMESPACE, NODE, POD, POLICY], translation.Settings())
    assert first.objects == 4 and first.policies == (PID,)
    created = set(first.outcome.created)
    assert {"tenants/shop", "hosts/n1", f"policies/{PID}"} <= created
    assert set(port.set_map) == {c.removeprefix("address-sets/") for c in created if "sets/" in c}
    assert first.outcome.updated == (sync.RECORD,)

    again = sync.apply(port, [NAMESPACE, NODE, POD, POLICY], translation.Settings())
    assert again.outcome.changed() == () and again.outcome.refused == ()

    relabelled = {**NODE, "metadata": {"name": "n1", "labels": {"rack": "b"}}}
    moved = sync.apply(port, [NAMESPACE, relabelled, POD], translation.Settings())
    assert "hosts/n1" in moved.outcome.updated and port.host_map["n1"] == {"rack": "b"}
    assert f"policies/{PID}" in moved.outcome.deleted and port.policy_map == {}
    assert moved.policies == ()


def test_a_bad_document_writes_nothing() -> None:
    port = Memory()
    with pytest.raises(InvalidInput, match="document 2"):
        sync.apply(port, [NAMESPACE, {"kind": "Pod"}], translation.Settings())
    assert port.tenant_map == {} and port.record == record.record([], [], [])
