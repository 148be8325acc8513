"""Everything one host needs, as one document at one store revision; and waiting for changes.

The host view is what an agent reconciles from: its host record (prefixes, gateways), its
route plan (with the prefixes it cannot route, ``skipped_routes``), its BGP plan in ``bgp``
route mode (``bgp``, :mod:`romana.core.bgpplan`), the networks, every
tenant, the policies that can affect an endpoint on this host, the address sets they name
(name → members), the allocations living on this host, and what crosses the edge (``external``:
every external pool, the external addresses this host's endpoints hold, each network's
egress NAT; ``docs/external.md``). The route plan carries a host route to every external
address another host's endpoint holds; in ``bgp`` route mode the BGP plan announces this
host's external addresses and accepts the pools' instead. ``vips``: every VIP, with its
endpoints' addresses, those on this host, and its holder (routed like an external address
of the holder). A VIP's lease is renewed several times a second without waking any wait;
only a change of holder (``vip-holders/``) does. Its shape is
:class:`romana.wire.rest_hostview.HostView`, the model romanad serves it with and the agent
reads it with; :meth:`HostViewService.view` returns exactly that model's fields.

A policy a tenant owns (:mod:`romana.core.policy.ids`: every target inside that tenant, so
its id is ``<tenant>/<name>``) applies to that tenant's endpoints only: it is in the view of a
host only while the host holds an allocation of that tenant, and ``policy_tenants`` lists
those tenants. Every other policy (applied to hosts, CIDRs, address sets, several tenants) is
in every view. So a tenant loading thousands of policies loads only the hosts its own
endpoints are on. The agent does not answer an ADD for a tenant its view does not carry
until it enforces a view that does (:mod:`romana.agent.endpoints`); the allocation that ADD
makes is what wakes the host's long poll for it.

The parts every host shares (tenants, parsed policies, address sets) are built once per
store revision for all hosts (:mod:`romana.services.viewparts`); a host's allocations are
read through its address slots and relocation records, never by reading every allocation of
the cluster, so a view costs what its own host holds.

Invariants:

* ``revision`` is a store revision at which every part of the view was current: the view is
  read between two readings of the store revision, and nothing a view reads was written in
  between (writes elsewhere, such as leases, registrations and routing reports, do not
  make it read again); the later reading is reported. Under a sustained stream of writes it
  reads this at most a few times and reports the reading taken before its last read, which
  can only make an agent fetch again, never miss a change.
* The allocations living on a host are those whose address slots lie under the host's
  indices and that did not move away, and those moved to it (``ipam/moved/``).
* A change is *relevant* to a host unless it is a service registration, a user or key, a
  stored Kubernetes object, a quota or usage counter, a Docker pool binding (which changes
  nothing an agent enforces), an agent's routing report (:mod:`romana.services.routing`:
  what an agent saw, which no view carries; every agent sends one at least every heartbeat,
  and each would otherwise wake every agent), an address slot of another host, an address
  slot of this host of a tenant that already had one at the revision the wait is after (a further
  allocation, or a release), a policy of a tenant the host held no
  allocation of at that revision, or an address set no policy of its view names
  (:meth:`HostViewService.relevant`); tenants are relevant to every host. A tenant's first
  allocation on the host wakes the wait, and the view then read carries that tenant's
  policies. Further allocations change no rule the agent enforces (tenant and segment rules
  match by mask, selector sets are address sets): they appear in the next view without
  waking the agent for each one. Waiting returns early only for relevant changes; the
  revision of the returned view moves with every store change.
* A relocation record (``ipam/moved/<key>``: an allocation living on another host than its
  addresses encode) is relevant to every host, since every route plan carries its exception
  route; the allocation moved here counts as the host's own, so its tenant's policies are in
  the view of the host it lives on.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from romana.core import errors, external, hostroutes, ipam, vips
from romana.core.identifiers import HostName, NetworkName
from romana.core.policy import ids
from romana.core.store import Event, EventType, KeyValue, Store
from romana.services import keys, policy, txn, viewparts
from romana.services.ipam import IpamService
from romana.services.tenants import TenantService
from romana.services.topology import TopologyService
from romana.services.viewparts import Allocations, Lookup

CONSISTENT_READ_ATTEMPTS = 5
# The policy generation is written with every policy change, whose own key decides; quota
# and usage keys change what romanad refuses, never what an agent enforces.
_IGNORED = (
    keys.REGISTRY,
    keys.AUTH,
    keys.IPAM_KEYS,
    keys.KUBE,
    keys.QUOTAS,
    keys.USAGE,
    keys.DOCKER_POOLS,
    keys.ROUTING,
    keys.VIP_LEASES,
    policy.GENERATION,
)


@dataclass(frozen=True, slots=True)
class HostScope:
    """What a host's view depends on, read when a wait begins (:meth:`HostViewService.scope`)."""

    indices: Mapping[str, int]
    """The host's index per network: address slots of other indices are other hosts'."""
    tenants: frozenset[str]
    """Tenants with an allocation on the host: whose own policies its view carries."""
    tenant_ids: frozenset[tuple[str, int]]
    """(network, tenant id) of every address slot of the host: a slot of another id is a
    tenant's first allocation here."""
    address_sets: frozenset[str]
    """The address sets the policies of its view name."""


def route_document(plan: Mapping[str, Any]) -> dict[str, Any]:
    """A route plan (``TopologyService.route_plan``) in its wire shape,
    :class:`romana.wire.rest_hostview.RoutePlan`."""
    routes = []
    for r in plan["routes"]:
        reason = (
            f"group {r['group']} via host {r['via_host']}"
            if r.get("group") is not None
            else f"host {r['via_host']}"
        )
        moved_from = r.get("moved_from")
        if moved_from is not None:
            reason = f"moved from host {moved_from} to host {r['via_host']}"
        pool = r.get("pool")
        if pool is not None:
            reason = f"external address of pool {pool} on host {r['via_host']}"
        routes.append(
            {
                "dst": r["dst"],
                "via": r["via"],
                "reason": reason,
                "moved_from": moved_from,
                "pool": pool,
            }
        )
    return {
        "host": plan["host"],
        "prefixes": {p["network"]: p["prefix"] for p in plan["prefixes"]},
        "gateways": {p["network"]: p["gateway"] for p in plan["prefixes"]},
        "routes": routes,
        "skipped": [{"dst": x["dst"], "reason": x["reason"]} for x in plan.get("skipped", [])],
        "moved_here": list(plan.get("moved_here", [])),
        "aggregate": bool(plan["aggregate"]),
    }


class HostViewService:
    def __init__(
        self,
        store: Store,
        topology: TopologyService,
        tenants: TenantService,
        ipam: IpamService,
    ) -> None:
        self._store = store
        self._topology = topology
        self._tenants = tenants
        self._ipam = ipam
        self._parts = viewparts.SharedParts(store)
        self._reads = viewparts.ViewReads(store)

    def view(self, host: str) -> dict[str, Any]:
        """The host's view; NotFound for a host the topology does not hold."""
        before = earlier = self._store.revision()
        for _ in range(CONSISTENT_READ_ATTEMPTS):
            doc = self._read(host, self._parts.at(before))
            after = self._store.revision()
            if self._reads.unchanged(before, after):
                return {"revision": after, **doc}
            earlier, before = before, after
        return {"revision": earlier, **doc}

    def placements(self, host: str) -> list[hostroutes.Placed]:
        """Where every external address and every held VIP lives: what ``host``'s route
        plan routes to other hosts."""
        allocations = Allocations(self._store)
        return self.placed(allocations)[0] + self.vips(host, allocations)[1]

    def placed(
        self, allocations: Lookup | None = None
    ) -> tuple[list[hostroutes.Placed], list[dict[str, Any]]]:
        """Every assigned external address with the host of the endpoint holding it, and
        the view's form of each, from ``allocations`` (read from the store when not given).
        A VIP's reservation is no endpoint's and is left out."""
        held = Allocations(self._store) if allocations is None else allocations
        found: list[hostroutes.Placed] = []
        local: list[dict[str, Any]] = []
        for raw in txn.loads_all(self._store.range(keys.EXTERNAL_IPS).items):
            ip = external.ExternalIp.from_dict(raw)
            alloc = None if ip.vip is not None else held(ip.key)
            if alloc is None:
                continue  # a VIP's, or released meanwhile: its assignment went with it
            found.append(hostroutes.Placed(ip.address, ip.pool, alloc.host))
            local.append(
                {
                    "address": str(ip.address),
                    "pool": ip.pool,
                    "key": ip.key,
                    "host": alloc.host,
                    "romana": [str(a) for a in alloc.addresses],
                }
            )
        return found, local

    def vips(
        self, host: str, allocations: Lookup | None = None
    ) -> tuple[list[dict[str, Any]], list[hostroutes.Placed]]:
        """Every VIP as ``host``'s view carries it (its endpoints' addresses of its family,
        the keys of those living on ``host``, its holder), and where each held one is;
        ``allocations`` as for :meth:`placed`."""
        held = Allocations(self._store) if allocations is None else allocations
        holders = {
            kv.key[len(keys.VIP_HOLDERS) :]: str(txn.loads(kv)["host"])
            for kv in self._store.range(keys.VIP_HOLDERS).items
        }
        found: list[dict[str, Any]] = []
        placed: list[hostroutes.Placed] = []
        for raw in txn.loads_all(self._store.range(keys.VIPS).items):
            vip = vips.Vip.from_dict(raw)
            addresses: list[str] = []
            local: list[str] = []
            for key in vip.endpoints:
                alloc = held(key)
                if alloc is None:
                    continue  # released: the VIP has one endpoint fewer
                same = [str(a) for a in alloc.addresses if a.version == vip.address.version]
                addresses.extend(same)
                if alloc.host == host and same:
                    local.append(key)
            holder = holders.get(vip.name)
            found.append(
                {
                    "name": vip.name,
                    "address": str(vip.address),
                    "endpoints": addresses,
                    "local": local,
                    "holder": holder,
                }
            )
            if holder is not None:
                placed.append(hostroutes.Placed(vip.address, vip.pool, HostName(holder)))
        return found, placed

    def external(
        self,
        host: str,
        local: Sequence[Mapping[str, Any]],
        networks: Sequence[Mapping[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """The view's ``external`` part: every pool, the external addresses held on
        ``host`` (of ``local``, :meth:`placed`'s second part) and each network's egress
        NAT, stored or the default (``networks``: the topology's, read when not given)."""
        pools = [
            external.ExternalPool.from_dict(raw)
            for raw in txn.loads_all(self._store.range(keys.EXTERNAL_POOLS).items)
        ]
        stored = {
            s.network: s
            for s in (
                external.EgressNat.from_dict(raw)
                for raw in txn.loads_all(self._store.range(keys.EXTERNAL_NAT).items)
            )
        }
        nat = [
            stored.get(NetworkName(n["name"])) or external.default_nat(NetworkName(n["name"]))
            for n in (self._topology.networks() if networks is None else networks)
        ]
        return {
            "pools": sorted({str(c) for p in pools for c in p.cidrs}),
            "addresses": [
                {k: v for k, v in a.items() if k != "host"} for a in local if a["host"] == host
            ],
            "nat": [n.to_dict() for n in nat],
        }

    def living_on(self, host: str, allocations: Lookup) -> list[ipam.Allocation]:
        """The allocations living on ``host`` (module invariants), by key."""
        indices = self._topology.view().host_indices(HostName(host))
        found: set[str] = set()
        for network, index in indices.items():
            slots = self._store.range(keys.addr_host(NetworkName(network), index)).items
            found.update(kv.value.decode() for kv in slots)
        for raw in txn.loads_all(self._store.range(keys.IPAM_MOVED).items):
            if raw.get("host") == host:
                found.add(str(raw["key"]))
        living = (allocations(key) for key in sorted(found))
        return [a for a in living if a is not None and a.host == host]

    def _read(self, host: str, shared: viewparts.Shared) -> dict[str, Any]:
        host_record = self._topology.get_host(HostName(host))
        networks = self._topology.networks()
        allocations = Allocations(self._store)
        placed, local = self.placed(allocations)
        held, vip_placed = self.vips(host, allocations)
        placed += vip_placed
        bgp = self._topology.bgp_plan(HostName(host))
        ext = self.external(host, local, networks)
        if bgp is not None:
            # BIRD announces this host's external addresses (and the VIPs it holds) and
            # learns the others'.
            mine = [a["address"] for a in ext["addresses"]]
            mine += [v["address"] for v in held if v["holder"] == host]
            bgp["prefixes"] = bgp["prefixes"] + [str(ipaddress.ip_network(a)) for a in mine]
            bgp["accept"] = bgp["accept"] + ext["pools"]
            placed = []
        plan = route_document(self._topology.route_plan(HostName(host), placed=placed))
        endpoints = [a.to_dict() for a in self.living_on(host, allocations)]
        present = frozenset(str(e["tenant"]) for e in endpoints)
        names = viewparts.named(shared.policies, present)
        return {
            "host": host_record,
            "networks": networks,
            "routes": plan["routes"],
            "skipped_routes": plan["skipped"],
            "tenants": list(shared.tenants),
            "policies": viewparts.carried(shared.policies, present),
            "policy_tenants": sorted(present),
            "address_sets": {k: v for k, v in shared.address_sets if k in names},
            "endpoints": endpoints,
            "bgp": bgp,
            "external": ext,
            "vips": held,
        }

    def scope(self, host: str, after: int | None = None) -> HostScope:
        """What decides which changes after revision ``after`` are :meth:`relevant` to
        ``host``; NotFound for a host the topology does not hold.

        The scope is read now, but the changes it judges are the ones after ``after``: an
        address slot or relocation created since then is left out, so that its tenant's
        first allocation here, made between the waiter's view and this read, still counts
        as the first and wakes the wait. ``None``: as of now."""
        view = self._topology.view()
        indices = view.host_indices(HostName(host))

        def known(kv: KeyValue) -> bool:
            return after is None or kv.create_revision <= after

        shared = self._parts.at(self._store.revision())
        names = self._parts.by_id(shared)
        present: set[str] = set()
        held: set[tuple[str, int]] = set()
        for network, index in indices.items():
            slots = self._store.range(keys.addr_host(NetworkName(network), index)).items
            tids = {keys.parse_addr(kv.key)[2] for kv in slots if known(kv)}
            held.update((network, tid) for tid in tids)
            present.update(names[network, tid] for tid in tids if (network, tid) in names)
        moved = [kv for kv in self._store.range(keys.IPAM_MOVED).items if known(kv)]
        for raw in txn.loads_all(moved):
            if raw.get("host") == host:
                present.add(str(raw["tenant"]))
        tenants = frozenset(present)
        sets = viewparts.named(shared.policies, tenants)
        return HostScope(indices, tenants, frozenset(held), sets)

    @staticmethod
    def relevant(scope: HostScope, event: Event) -> bool:
        """Whether ``event`` may change the view of the host of ``scope``.

        Allocation records are ignored because every allocation or release also writes the
        address slots, whose keys name the host index. A policy's key names its owning
        tenant, so a deleted policy is judged as a written one is.
        """
        if not event.key.startswith(keys.ROOT) or event.key.startswith(_IGNORED):
            return False
        if event.key.startswith(keys.IPAM_ADDR):
            try:
                network, index, tid, *_ = keys.parse_addr(event.key)
            except ValueError:
                return True
            if scope.indices.get(network) != index:
                return False
            # A release leaves the view's policies a superset of what the host needs; the
            # next relevant change reads them afresh.
            return event.type is EventType.PUT and (network, tid) not in scope.tenant_ids
        if event.key.startswith(keys.POLICIES):
            who = ids.owner_of_id(event.key[len(keys.POLICIES) :])
            return who is None or who in scope.tenants
        if event.key.startswith(keys.ADDRESS_SETS):
            return event.key[len(keys.ADDRESS_SETS) :] in scope.address_sets
        return True

    def wait(self, host: str, after: int, timeout: float) -> dict[str, Any]:
        """The view, once a relevant change after revision ``after`` happened or ``timeout``
        seconds passed (blocking; the HTTP layer shares one watch among its waiters instead)."""
        scope = self.scope(host, after)
        cursor = after + 1
        remaining = timeout
        deadline = time.monotonic() + timeout
        while remaining > 0:
            try:
                events = self._store.watch(keys.ROOT, cursor, remaining)
            except errors.Compacted:
                break
            if not events or any(self.relevant(scope, e) for e in events):
                break
            cursor = events[-1].revision + 1
            remaining = deadline - time.monotonic()
        return self.view(host)
