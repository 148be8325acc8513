"""What the listener changes in romanad, behind one small port, and its implementation over
the services and a store.

:class:`Romanad` is the port: tenants (with segments), hosts (with labels), the ``kube.*``
policies and the ``kube.*`` address sets. Every method is idempotent, so the listener can
reconcile from a full desired state after a reconnect without replaying events.

:class:`ServicesRomanad` drives the romanad services in-process over a store (the same
services romanad's HTTP routes call). Address-set membership is kept at
``/romana/v1/address-sets/<name>`` (a JSON list of prefixes), read by agents together with
the policies that name the sets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from romana.core.errors import AlreadyExists, Conflict, NotFound
from romana.core.policy import kubernetes
from romana.core.store import Delete, Put, Store
from romana.services import keys, txn
from romana.services.policy import PolicyService
from romana.services.tenants import TenantService
from romana.services.topology import TopologyService

ADDRESS_SETS = keys.ROOT + "address-sets/"


class Romanad(Protocol):
    def tenants(self) -> dict[str, set[str]]:
        """Tenant name → its segment names."""

    def ensure_tenant(self, name: str, external_id: str) -> None: ...
    def remove_tenant(self, name: str) -> None: ...
    def ensure_segment(self, tenant: str, segment: str) -> None: ...
    def hosts(self) -> dict[str, dict[str, str]]:
        """Host name → its labels."""

    def ensure_host(self, name: str, ip: str, labels: Mapping[str, str]) -> None: ...
    def remove_host(self, name: str) -> None: ...
    def policies(self) -> dict[str, dict[str, Any]]:
        """The ``kube.*`` policies by id."""

    def put_policy(self, document: Mapping[str, Any]) -> None: ...
    def remove_policy(self, pid: str) -> None: ...
    def address_sets(self) -> dict[str, list[str]]: ...
    def put_address_set(self, name: str, members: Sequence[str]) -> None: ...
    def remove_address_set(self, name: str) -> None: ...


class ServicesRomanad:
    """The port over romanad's services sharing one store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.topology = TopologyService(store)
        self.tenant_service = TenantService(store, self.topology)
        self.policy_service = PolicyService(store)

    def tenants(self) -> dict[str, set[str]]:
        return {t.name: set(t.segments) for t in self.tenant_service.list_all()}

    def ensure_tenant(self, name: str, external_id: str) -> None:
        try:
            self.tenant_service.create(name, external_id)
        except AlreadyExists:
            pass

    def remove_tenant(self, name: str) -> None:
        try:
            self.tenant_service.delete(name)
        except NotFound:
            pass

    def ensure_segment(self, tenant: str, segment: str) -> None:
        self.tenant_service.ensure_segment(tenant, segment)

    def hosts(self) -> dict[str, dict[str, str]]:
        return {h["name"]: dict(h.get("labels") or {}) for h in self.topology.list_hosts()}

    def ensure_host(self, name: str, ip: str, labels: Mapping[str, str]) -> None:
        try:
            self.topology.add_host(name, ip, labels)
        except (AlreadyExists, Conflict):
            self.topology.update_labels(name, labels)

    def remove_host(self, name: str) -> None:
        try:
            self.topology.remove_host(name)
        except NotFound:
            pass

    def policies(self) -> dict[str, dict[str, Any]]:
        return {
            p["id"]: p
            for p in self.policy_service.list_all()
            if str(p.get("id", "")).startswith(kubernetes.PREFIX)
        }

    def put_policy(self, document: Mapping[str, Any]) -> None:
        pid = str(document["name"])
        try:
            current = self.policy_service.get(pid)
        except NotFound:
            current = None
        if current is not None:
            if current == {"id": pid, **document}:
                return
            self.policy_service.remove(pid)
        self.policy_service.add(dict(document))

    def remove_policy(self, pid: str) -> None:
        try:
            self.policy_service.remove(pid)
        except NotFound:
            pass

    def address_sets(self) -> dict[str, list[str]]:
        return {
            kv.key[len(ADDRESS_SETS) :]: txn.loads(kv)
            for kv in self.store.range(ADDRESS_SETS).items
        }

    def put_address_set(self, name: str, members: Sequence[str]) -> None:
        self.store.txn((), (Put(ADDRESS_SETS + name, txn.dumps(list(members))),))

    def remove_address_set(self, name: str) -> None:
        self.store.txn((), (Delete(ADDRESS_SETS + name),))
