"""Topology use cases: apply the document, place and remove hosts, views for other services.

The whole topology state (networks, group trees, placed hosts) is one store value in the
re-appliable document form, so every change is one compare-and-swap of that key. Parsing is
cached by the key's mod revision: replicas sharing a store never serve a stale view, because
each call re-reads the (small) key and re-parses only when its revision moved.

Applying a document first matches the stored state to it (:mod:`romana.core.topology.change`):
a change that would alter what allocated addresses or held tenant ids mean is refused with
every conflict named, and a renamed network's state moves to its new name in the same
transaction (:mod:`romana.services.renames`).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from romana.core import addressing, tenancy, topology
from romana.core.errors import InvalidInput
from romana.core.identifiers import HostName, NetworkName
from romana.core.store import Delete, KeyValue, Put, Store
from romana.core.topology import change
from romana.services import keys, renames, txn

if TYPE_CHECKING:
    from romana.core.hostroutes import Moved, Placed

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TopologyView:
    """The parsed topology at one store revision, with the lookups other services need."""

    kv: KeyValue | None
    topology: topology.Topology
    _indices: dict[str, dict[str, int]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def layouts(self) -> dict[str, addressing.Layout]:
        return self.topology.layouts

    @property
    def admissions(self) -> tuple[tenancy.NetworkAdmission, ...]:
        """Networks in document order with the tenants each admits (only networks hosts use)."""
        return tuple(
            tenancy.NetworkAdmission(n.layout, frozenset(n.tenants))
            for n in self.topology.networks
            if self.topology.tree_of(n.name) is not None
        )

    def host_indices(self, host: HostName) -> dict[str, int]:
        """Network name → the host's index; NotFound for an unknown host."""
        found = self._indices.get(host)
        if found is None:
            # The view is immutable, so memoising placements is safe; allocation asks often.
            found = topology.model.placement(self.topology, host).indices
            self._indices[host] = found
        return found


EMPTY = topology.Topology()


@dataclass(frozen=True, slots=True)
class _Commit:
    """One apply's transaction: the change it carries out, what it moves, its operations."""

    planned: change.Change
    moved: renames.Moved
    ops: int

    def refused(self, exc: InvalidInput) -> str:
        """Why a store refused this rename, and what to do about it."""
        pairs = sorted(self.planned.renames.items())
        what = "networks" if len(pairs) > 1 else "network"
        names = ", ".join(f"{old!r} to {new!r}" for old, new in pairs)
        m = self.moved
        return (
            f"renaming {what} {names} moves {m.slots} allocated addresses, {m.allocations} "
            f"allocation records, {m.tenant_ids} tenant ids and {m.tenants} tenant records in "
            f"one store transaction of {self.ops} operations, and the store refused it; nothing "
            f"was changed. {exc}. Or rename networks before addresses are allocated in them: a "
            "rename costs about 3 operations per allocated address"
        )


class TopologyService:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._cached: TopologyView = TopologyView(None, EMPTY)

    # -- reads ---------------------------------------------------------------------------

    def view(self) -> TopologyView:
        kv = self._store.get(keys.TOPOLOGY)
        with self._lock:
            cached = self._cached
        if kv is None:
            return TopologyView(None, EMPTY)
        if cached.kv is not None and cached.kv.mod_revision == kv.mod_revision:
            return cached
        fresh = TopologyView(kv, topology.from_json_dict(txn.loads(kv)))
        with self._lock:
            self._cached = fresh
        return fresh

    def cached_view(self) -> TopologyView:
        """The last view read, without a store round trip; callers must guard on ``view.kv``."""
        with self._lock:
            cached = self._cached
        return cached if cached.kv is not None else self.view()

    def document(self) -> dict[str, Any]:
        return topology.to_document(self.view().topology)

    def tree(self) -> dict[str, Any]:
        return topology.tree_view(self.view().topology)

    def networks(self) -> list[dict[str, Any]]:
        view = self.view()
        result = []
        for net in view.topology.networks:
            lay = net.layout
            kv = self._store.get(keys.blackouts(net.name))
            result.append(
                {
                    **lay.to_dict(),
                    "topology_bits": lay.topology_bits,
                    "host_prefixlen": lay.host_prefixlen,
                    "tenants": list(net.tenants),
                    "blackouts": list(txn.loads(kv)) if kv else [],
                }
            )
        return result

    def list_hosts(self) -> list[dict[str, Any]]:
        view = self.view()
        return [self._host_dict(view, h.name) for h in view.topology.hosts]

    def get_host(self, name: HostName) -> dict[str, Any]:
        return self._host_dict(self.view(), name)

    def route_plan(
        self, name: HostName, aggregate: bool = True, placed: Iterable[Placed] = ()
    ) -> dict[str, Any]:
        """Host ``name``'s route plan, with the exception routes of moved addresses and the
        routes of the external addresses ``placed`` on other hosts."""
        from romana.core import hostroutes, routeplan

        topo = self.view().topology
        plan = routeplan.route_plan(topo, name, aggregate=aggregate)
        plan = hostroutes.with_exceptions(plan, topo, self.moved())
        return hostroutes.with_externals(plan, topo, placed).to_dict()

    def bgp_plan(self, name: HostName) -> dict[str, Any] | None:
        """What host ``name``'s BIRD announces and to whom (:mod:`romana.core.bgpplan`),
        in its wire shape; None when the host is in no topology in ``bgp`` route mode."""
        from romana.core import bgpplan

        plan = bgpplan.for_host(self.view().topology, name)
        return None if plan is None else bgpplan.to_dict(plan)

    def moved(self) -> list[Moved]:
        """Every allocation living on another host than its addresses encode, as
        :class:`romana.core.hostroutes.Moved` (the exception routes of every plan)."""
        from romana.core import hostroutes

        found = []
        for raw in txn.loads_all(self._store.range(keys.IPAM_MOVED).items):
            found.append(
                hostroutes.Moved(
                    str(raw["key"]),
                    HostName(str(raw["host"])),
                    HostName(str(raw["origin"])),
                    tuple(ipaddress.ip_address(str(a)) for a in raw["addresses"]),
                )
            )
        return found

    # -- writes --------------------------------------------------------------------------

    def apply(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """Replace the topology with ``document`` (ours or Romana v2), keeping it consistent.

        Raises:
            InvalidInput: the document is not valid, or the store refused the transaction
                of a rename as too large (the message says how large and what to do).
            Conflict: the change would alter what stored addresses, tenant ids or segment ids
                mean.
        """
        parsed = topology.parse(document)
        # What the attempt being committed moves, to explain a store refusing its transaction.
        committing: list[_Commit] = []

        def attempt(w: txn.Writes) -> dict[str, Any]:
            committing.clear()
            view = self.view()
            w.guard(keys.TOPOLOGY, view.kv)
            # Guarded reads: an address, tenant id or segment created before the new
            # topology commits makes the apply check again, so none is ever orphaned by it.
            stored = renames.read(self._store, w, view.layouts)
            planned = change.plan(view.topology, parsed, stored.held())
            out = topology.to_document(parsed)
            w.ops.append(Put(keys.TOPOLOGY, txn.dumps(out)))
            moved = renames.move(self._store, w, planned, stored)
            committing.append(_Commit(planned, moved, len(w.ops)))
            return out

        try:
            out = txn.run(self._store, attempt, what="apply topology")
        except InvalidInput as exc:
            # ``committing`` is set only by a completed attempt: the store refused its txn.
            if not committing or not committing[0].planned.renames:
                raise
            raise InvalidInput(committing[0].refused(exc)) from exc
        # Also logged, for documents applied without a person watching (--initial-topology).
        for net in parsed.networks:
            for warning in topology.capacity(net.layout).warnings:
                log.warning("topology applied: %s", warning)
        return out

    def add_host(
        self,
        name: HostName,
        ip: str,
        labels: Mapping[str, str] | None = None,
        ip6: str | None = None,
    ) -> dict[str, Any]:
        """Place a host; ``ip6`` is its IPv6 underlay address beside an IPv4 ``ip``."""
        spec = topology.HostSpec(name, ip, dict(labels or {}), ip6)

        def attempt(w: txn.Writes) -> dict[str, Any]:
            view = self.view()
            reserved = {n: self._used_indices(lay.name) for n, lay in view.layouts.items()}
            updated, _ = topology.place_host(view.topology, spec, reserved)
            self._write(w, view, updated)
            return self._host_dict(TopologyView(None, updated), name)

        return txn.run(self._store, attempt, what=f"add host {name!r}")

    def update_labels(self, name: HostName, labels: Mapping[str, str]) -> dict[str, Any]:
        def attempt(w: txn.Writes) -> dict[str, Any]:
            view = self.view()
            updated = topology.update_labels(view.topology, name, dict(labels))
            self._write(w, view, updated)
            return self._host_dict(TopologyView(None, updated), name)

        return txn.run(self._store, attempt, what=f"label host {name!r}")

    def remove_host(self, name: HostName) -> dict[str, Any]:
        def attempt(w: txn.Writes) -> dict[str, Any]:
            view = self.view()
            before = self._host_dict(view, name)
            self._write(w, view, topology.remove_host(view.topology, name))
            w.ops.append(Delete(keys.routing(name)))  # its routing report goes with it
            return before

        return txn.run(self._store, attempt, what=f"remove host {name!r}")

    # -- helpers -------------------------------------------------------------------------

    def _write(self, w: txn.Writes, view: TopologyView, updated: topology.Topology) -> None:
        w.guard(keys.TOPOLOGY, view.kv)
        w.ops.append(Put(keys.TOPOLOGY, txn.dumps(topology.to_document(updated))))

    def _used_indices(self, network: NetworkName) -> frozenset[int]:
        return frozenset(
            keys.parse_addr(kv.key)[1] for kv in self._store.range(keys.addr_network(network)).items
        )

    def _host_dict(self, view: TopologyView, name: HostName) -> dict[str, Any]:
        host = view.topology.host(name)
        place = topology.model.placement(view.topology, name)
        return {
            "name": host.name,
            "ip": str(host.ip),
            "ip6": None if host.ip6 is None else str(host.ip6),
            "labels": dict(host.labels),
            "group": place.prefixes[0].group if place.prefixes else "",
            "indices": place.indices,
            "prefixes": {p.network: str(p.prefix) for p in place.prefixes},
            "gateways": {p.network: str(p.gateway) for p in place.prefixes},
        }
