"""Everything one host needs, as one document at one store revision; and waiting for changes.

The host view is what an agent reconciles from: its host record (prefixes, gateways), its
route plan (with the prefixes it cannot route, ``skipped_routes``), the networks, every
tenant, every policy, every address set (name → members), and the allocations on this host.

Invariants:

* ``revision`` is a store revision at which every part of the view was current: the view is
  read between two equal readings of the store revision, so no write slipped in between.
  Under a sustained stream of writes the earliest reading is reported, which can only make
  an agent fetch again, never miss a change.
* A change is *relevant* to a host unless it is a service registration, a user or key, a
  stored Kubernetes object, or an address slot of another host
  (:meth:`HostViewService.relevant`); so policies, tenants and address-set members are
  relevant to every host. Waiting returns early only for relevant changes; the revision of
  the returned view moves with every store change.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from romana.core import errors
from romana.core.store import Event, Store
from romana.services import keys
from romana.services.addresssets import AddressSetService
from romana.services.ipam import IpamService
from romana.services.policy import PolicyService
from romana.services.tenants import TenantService
from romana.services.topology import TopologyService

CONSISTENT_READ_ATTEMPTS = 5
_IGNORED = (keys.REGISTRY, keys.AUTH, keys.IPAM_KEYS, keys.KUBE)


def route_document(plan: Mapping[str, Any]) -> dict[str, Any]:
    """A route plan (``TopologyService.route_plan``) in the wire shape of docs/api.md."""
    routes = []
    for r in plan["routes"]:
        reason = (
            f"group {r['group']} via host {r['via_host']}"
            if r.get("group") is not None
            else f"host {r['via_host']}"
        )
        routes.append({"dst": r["dst"], "via": r["via"], "reason": reason})
    return {
        "host": plan["host"],
        "prefixes": {p["network"]: p["prefix"] for p in plan["prefixes"]},
        "gateways": {p["network"]: p["gateway"] for p in plan["prefixes"]},
        "routes": routes,
        "skipped": [{"dst": x["dst"], "reason": x["reason"]} for x in plan.get("skipped", [])],
        "aggregate": bool(plan["aggregate"]),
    }


class HostViewService:
    def __init__(
        self,
        store: Store,
        topology: TopologyService,
        tenants: TenantService,
        ipam: IpamService,
        policies: PolicyService,
    ) -> None:
        self._store = store
        self._topology = topology
        self._tenants = tenants
        self._ipam = ipam
        self._policies = policies
        self._sets = AddressSetService(store)

    def view(self, host: str) -> dict[str, Any]:
        """The host's view; NotFound for a host the topology does not hold."""
        before = self._store.revision()
        for _ in range(CONSISTENT_READ_ATTEMPTS):
            doc = self._read(host)
            after = self._store.revision()
            if after == before:
                break
            before = after
        return {"revision": before, **doc}

    def _read(self, host: str) -> dict[str, Any]:
        host_record = self._topology.get_host(host)
        plan = route_document(self._topology.route_plan(host))
        return {
            "host": host_record,
            "networks": self._topology.networks(),
            "routes": plan["routes"],
            "skipped_routes": plan["skipped"],
            "tenants": [t.to_dict() for t in self._tenants.list_all()],
            "policies": self._policies.list_all(),
            "address_sets": self._sets.list_all(),
            "endpoints": [a.to_dict() for a in self._ipam.list_all(host=host)],
        }

    def indices(self, host: str) -> dict[str, int]:
        """The host's index per network, for :meth:`relevant`; NotFound for an unknown host."""
        return self._topology.view().host_indices(host)

    @staticmethod
    def relevant(indices: Mapping[str, int], event: Event) -> bool:
        """Whether ``event`` may change the view of the host with these ``indices``.

        Allocation records are ignored because every allocation or release also writes the
        address slots, whose keys name the host index.
        """
        if not event.key.startswith(keys.ROOT) or event.key.startswith(_IGNORED):
            return False
        if event.key.startswith(keys.IPAM_ADDR):
            try:
                network, index, *_ = keys.parse_addr(event.key)
            except ValueError:
                return True
            return indices.get(network) == index
        return True

    def wait(self, host: str, after: int, timeout: float) -> dict[str, Any]:
        """The view, once a relevant change after revision ``after`` happened or ``timeout``
        seconds passed (blocking; the HTTP layer shares one watch among its waiters instead)."""
        indices = self.indices(host)
        cursor = after + 1
        remaining = timeout
        deadline = time.monotonic() + timeout
        while remaining > 0:
            try:
                events = self._store.watch(keys.ROOT, cursor, remaining)
            except errors.Compacted:
                break
            if not events or any(self.relevant(indices, e) for e in events):
                break
            cursor = events[-1].revision + 1
            remaining = deadline - time.monotonic()
        return self.view(host)
