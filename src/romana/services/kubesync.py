"""The Kubernetes sync port (:class:`romana.core.kubernetes.sync.Romanad`) over romanad's
services sharing one store.

:class:`ServicesRomanad` drives the same services romanad's HTTP routes call, in-process: the
listener runs :func:`romana.core.kubernetes.sync.sync` over it, and romanad's ``POST
/v1/kube/apply`` (``romana policy apply``) runs :func:`romana.core.kubernetes.sync.apply`
over it. Address-set membership is kept at ``/romana/v1/address-sets/<name>`` (a JSON list
of prefixes), read by agents together with the policies that name the sets.

VIPs and external IPs are :class:`~romana.services.VipService`'s and
:class:`~romana.services.external.ExternalService`'s, over the same store: a Service's VIP is
created, re-pointed and deleted as ``romana vip`` does it, a pod's external IP assigned and
unassigned as ``romana external-ip`` does it.

Every method is idempotent, as the port requires: creating what exists and removing what is
gone succeed. Only ``kube.*`` policies and address sets are reported.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from romana.core.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from romana.core.identifiers import HostName, SegmentName, TenantName
from romana.core.kubernetes import translation
from romana.core.store import Store
from romana.core.vips import Vip
from romana.services import kubestore
from romana.services.addresssets import AddressSetService
from romana.services.external import ExternalService
from romana.services.ipam import IpamService
from romana.services.policy import PolicyService
from romana.services.tenants import TenantService
from romana.services.topology import TopologyService
from romana.services.vips import VipService

Known = translation.KnownTenant


class ServicesRomanad:
    """The port over romanad's services sharing one store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.topology = TopologyService(store)
        self.tenant_service = TenantService(store, self.topology)
        self.policy_service = PolicyService(store)
        self.set_service = AddressSetService(store)
        self.kube_service = kubestore.KubeObjectService(store)
        self.external_service = ExternalService(store, self.tenant_service, self.topology)
        ipam = IpamService(store, self.topology, self.tenant_service)
        # Leases are not asked for here: the TTL only bounds them, and agents ask romanad.
        self.vip_service = VipService(store, self.external_service, ipam)

    def tenants(self) -> dict[str, Known]:
        return {
            t.name: Known(set(t.segments), t.external_id, t.isolation.mode.value)
            for t in self.tenant_service.list_all()
        }

    def ensure_tenant(self, name: str, external_id: str) -> bool:
        try:
            self.tenant_service.create(
                TenantName(name), external_id, isolation=translation.ISOLATION
            )
        except AlreadyExists:
            return False
        return True

    def remove_tenant(self, name: str) -> None:
        with contextlib.suppress(NotFound):
            self.tenant_service.delete(TenantName(name))

    def ensure_segment(self, tenant: str, segment: str) -> None:
        self.tenant_service.ensure_segment(TenantName(tenant), SegmentName(segment))

    def hosts(self) -> dict[str, dict[str, str]]:
        return {h["name"]: dict(h.get("labels") or {}) for h in self.topology.list_hosts()}

    def ensure_host(self, name: str, ip: str, labels: Mapping[str, str]) -> None:
        try:
            self.topology.add_host(HostName(name), ip, labels)
        except (AlreadyExists, Conflict):
            self.topology.update_labels(HostName(name), labels)

    def remove_host(self, name: str) -> None:
        with contextlib.suppress(NotFound):
            self.topology.remove_host(HostName(name))

    def policies(self) -> dict[str, dict[str, Any]]:
        return {
            p["id"]: p
            for p in self.policy_service.list_all()
            if str(p.get("name", "")).startswith(translation.PREFIX)
        }

    def put_policy(self, pid: str, document: Mapping[str, Any]) -> None:
        self.policy_service.put(pid, dict(document))

    def remove_policy(self, pid: str) -> None:
        with contextlib.suppress(NotFound):
            self.policy_service.remove(pid)

    def address_sets(self) -> dict[str, list[str]]:
        return {
            name: members
            for name, members in self.set_service.list_all().items()
            if name.startswith(translation.PREFIX)
        }

    def put_address_set(self, name: str, members: Sequence[str]) -> None:
        self.set_service.put(name, members)

    def remove_address_set(self, name: str) -> None:
        with contextlib.suppress(NotFound):
            self.set_service.remove(name)

    def kube_objects(self) -> dict[str, Any]:
        return self.kube_service.get()

    def put_kube_objects(self, record: Mapping[str, Any]) -> None:
        self.kube_service.put(record)

    def endpoint_keys(self, addresses: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for address in addresses:
            with contextlib.suppress(NotFound, InvalidInput):
                found[address] = self.external_service.endpoint(address).key
        return found

    def vips(self) -> dict[str, Vip]:
        return {v.name: v for v in self.vip_service.list()}

    def create_vip(
        self, name: str, pool: str, endpoints: Sequence[str], address: str | None
    ) -> Vip:
        wanted = None if address is None else ipaddress.ip_address(address)
        return self.vip_service.create(name, pool, endpoints, wanted)

    def set_vip_endpoints(self, name: str, endpoints: Sequence[str]) -> None:
        self.vip_service.set_endpoints(name, endpoints)

    def delete_vip(self, name: str) -> None:
        with contextlib.suppress(NotFound):
            self.vip_service.delete(name)

    def external_ips(self) -> dict[str, tuple[str, str]]:
        return {
            str(ip.address): (ip.pool, str(ip.key))
            for ip in self.external_service.ips()
            if ip.vip is None
        }

    def assign_external_ip(self, pool: str, endpoint: str, address: str | None) -> tuple[str, bool]:
        wanted = None if address is None else ipaddress.ip_address(address)
        ip, assigned = self.external_service.assign_reporting(pool, endpoint, wanted)
        return str(ip.address), assigned

    def unassign_external_ip(self, address: str) -> None:
        with contextlib.suppress(NotFound):
            self.external_service.unassign(ipaddress.ip_address(address))
