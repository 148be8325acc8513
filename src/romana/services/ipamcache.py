"""The allocation path's per-process cache of rarely changing records, and their parses.

An allocation's first attempt trusts what this cache holds — the topology, the tenant, its
blackouts and quota records — and guards the mod revision of each in its transaction, so a
stale entry can only make that transaction fail, never commit; the retry reads fresh
(``fresh=True``) and refreshes the entry. Parses (a tenant record, a network's blackouts,
where a tenant's allocations on a host take their addresses) are memoised by the revisions
they were parsed from, so an entry is never served for a record that has changed.

Every table is bounded: past its size it is emptied, and refills from the store.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from romana.core import addressing, ipam, tenancy
from romana.core.identifiers import HostName, NetworkName, SegmentName
from romana.core.store import KeyValue, Store
from romana.services import keys, txn
from romana.services.blackouts import Blackouts
from romana.services.topology import TopologyView


@dataclass(frozen=True, slots=True)
class Place:
    """Where an allocation takes its address in one network: the slot, its layout, the
    prefix of its address keys, the blackouts key guarded, and the slot's address of ordinal
    0, to which an ordinal is added (what :func:`addressing.encode` computes, its range
    checks done once)."""

    layout: addressing.Layout
    slot: ipam.Slot
    prefix: str
    blackouts: str
    base: addressing.IPAddress

    @classmethod
    def of(cls, lay: addressing.Layout, slot: ipam.Slot) -> Place:
        return cls(
            lay,
            slot,
            keys.addr_slot(slot.network, slot.host, slot.tenant, slot.segment),
            keys.blackouts(slot.network),
            addressing.encode(lay, slot.host, slot.tenant, slot.segment, 0),
        )


class RecordCache:
    """The cache of one :class:`~romana.services.ipam.IpamService` over ``store``."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._records: dict[str, KeyValue | None] = {}
        self._tenants_parsed: dict[str, tuple[int, tenancy.Tenant]] = {}
        self._plans: dict[tuple[int, str, int, str, str], tuple[Place, ...]] = {}
        self._blackouts_parsed: dict[tuple[str, int], tuple[addressing.Layout, Blackouts]] = {}

    def record(self, key: str, fresh: bool) -> KeyValue | None:
        """A small per-process cache of rarely changing records; guards prove them current."""
        if fresh or key not in self._records:
            kv = self._store.get(key)
            with self._lock:
                if len(self._records) > 4096:
                    self._records.clear()
                self._records[key] = kv
            return kv
        return self._records[key]

    def places(
        self,
        view: TopologyView,
        tkv: KeyValue,
        ten: tenancy.Tenant,
        host: HostName,
        segment: SegmentName,
    ) -> tuple[Place, ...]:
        """Where allocations of tenant ``ten`` (as ``tkv`` holds it) on ``host`` in
        ``segment`` take their addresses, one place per network; NotFound for an unknown
        segment or host. Memoised by the revisions of both records, which the allocation
        guards."""
        memo = (view.kv.mod_revision if view.kv else 0, tkv.key, tkv.mod_revision, host, segment)
        found = self._plans.get(memo)
        if found is None:
            seg_id = ten.segment_id(segment)
            indices = view.host_indices(host)
            found = tuple(
                Place.of(
                    view.layouts[name], ipam.Slot(NetworkName(name), indices[name], tid, seg_id)
                )
                for name, tid in ten.ids.items()
                if name in indices
            )
            with self._lock:
                if len(self._plans) > 4096:
                    self._plans.clear()
                self._plans[memo] = found
        return found

    def blackouts(self, lay: addressing.Layout, kv: KeyValue) -> Blackouts:
        """The blackouts record ``kv`` of network ``lay`` parsed, memoised by its revision."""
        memo = (kv.key, kv.mod_revision)
        found = self._blackouts_parsed.get(memo)
        if found is None or found[0] != lay:
            found = (lay, ipam.parse_blackouts(lay, txn.loads(kv)))
            with self._lock:
                if len(self._blackouts_parsed) > 256:
                    self._blackouts_parsed.clear()
                self._blackouts_parsed[memo] = found
        return found[1]

    def tenant(self, kv: KeyValue) -> tenancy.Tenant:
        cached = self._tenants_parsed.get(kv.key)
        if cached is not None and cached[0] == kv.mod_revision:
            return cached[1]
        tenant = tenancy.Tenant.from_dict(txn.loads(kv))
        self._tenants_parsed[kv.key] = (kv.mod_revision, tenant)
        return tenant
