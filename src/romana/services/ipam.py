"""IPAM use cases: allocate, release, move, list, decode, blackouts — each one store transaction.

An allocation is stored twice in one transaction: under its key (the record callers look up)
and under each address slot (``ipam/addr/<network>/<host>/<tenant>/<segment>/<ordinal>``),
whose create-if-absent guard is what makes an address impossible to hand out twice, across
processes and replicas alike; an address the caller requests (``address``) is stored, and
guarded, the same way. The same transaction counts the allocation in one of the tenant's
counters (:mod:`romana.services.quotas`), so no number of concurrent allocations can take a
tenant past its allocation quota.

A blackout never covers an allocated address. Allocation guards the blackouts key it read; a
blackout change (:mod:`romana.services.blackouts`) guards the address keys its new ranges
could hold. Whichever commits second sees the first, so an allocation racing a blackout either
lands outside it or makes the blackout refuse.

A moved allocation (:meth:`IpamService.move`) keeps its address keys under the host its
addresses encode, and its record names the host it lives on (``host``) and that one
(``origin``). The same transaction writes or deletes its relocation record
(``ipam/moved/<key>``), from which every route plan takes its exception routes; a release
deletes it with the allocation, and with it the external IPs assigned to it
(:func:`romana.services.external.drop_for_release`).

What holds an allocation (its ``workload``, :meth:`IpamService.set_workload`) is a field of
the record under its key: a move rewrites the record with it, a release deletes it with it.

Allocations and releases of concurrent callers share store transactions
(:mod:`romana.services.groupcommit`): each is computed as if alone, reading through the writes
of the requests batched before it, and answered once the batch committed; a refused request
writes nothing, whatever the others of its batch do.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from romana.core import addressing, ipam, tenancy
from romana.core.errors import (
    AlreadyExists,
    InvalidInput,
    Issue,
    NotFound,
    QuotaExceeded,
)
from romana.core.identifiers import AllocationKey, HostName, NetworkName, SegmentName, TenantName
from romana.core.store import Delete, KeyValue, Put, Store
from romana.services import external, keys, quotas, txn
from romana.services.blackouts import Blackouts, change_blackouts
from romana.services.groupcommit import GroupCommit
from romana.services.ipamcache import RecordCache
from romana.services.tenants import TenantService
from romana.services.topology import TopologyService, TopologyView


def _replace(_: Blackouts, given: Blackouts) -> Blackouts:
    return tuple(given)


def _host_names(view: TopologyView, network: NetworkName) -> dict[int, str]:
    """Host index → host name in ``network``: whose an address of another host is."""
    tree = view.topology.tree_of(network)
    if tree is None:
        return {}
    return {m.index: m.host for m in tree.root.all_members()}


def _requested_network(
    view: TopologyView,
    ten: tenancy.Tenant,
    host: HostName,
    indices: Mapping[str, int],
    address: addressing.IPAddress,
) -> NetworkName:
    """The network of a requested ``address``: InvalidInput unless the tenant has an id and
    ``host`` a prefix in it."""
    lay = next(
        (x for x in view.layouts.values() if x.version == address.version and address in x.cidr),
        None,
    )
    ours = sorted(n for n in ten.ids if n in indices)
    if lay is None or lay.name not in ours:
        where = "no network" if lay is None else f"network {lay.name!r}"
        listed = ", ".join(repr(n) for n in ours) or "none"
        rule = f"{address} is in {where}; tenant {ten.name!r} has addresses on host {host!r} in"
        raise InvalidInput([Issue("address", f"{rule} {listed}")])
    return lay.name


class IpamService:
    def __init__(self, store: Store, topology: TopologyService, tenants: TenantService) -> None:
        self._store = store
        self._topology = topology
        self._tenants = tenants
        self._quotas = quotas.QuotaService(store)
        self.batches = GroupCommit(store)
        """Commits concurrent allocations and releases together (see its module)."""
        self._cache = RecordCache(store)

    # -- reads ---------------------------------------------------------------------------

    def get(self, key: AllocationKey) -> ipam.Allocation:
        kv = self._store.get(keys.alloc_key(key))
        if kv is None:
            raise NotFound(f"no allocation with key {key!r}")
        return ipam.Allocation.from_dict(txn.loads(kv))

    def list_all(
        self, host: HostName | None = None, tenant: TenantName | None = None
    ) -> list[ipam.Allocation]:
        result = []
        for raw in txn.loads_all(self._store.range(keys.IPAM_KEYS).items):
            alloc = ipam.Allocation.from_dict(raw)
            if (host is None or alloc.host == host) and (tenant is None or alloc.tenant == tenant):
                result.append(alloc)
        return result

    def key_of(self, address: str) -> AllocationKey:
        addr = ipam.parse_address(address)
        slot, ordinal = ipam.slot_of(self._topology.view().layouts, addr)
        kv = self._store.get(keys.addr(slot.network, slot.host, slot.tenant, slot.segment, ordinal))
        if kv is None:
            raise NotFound(f"address {addr} is not allocated")
        return AllocationKey(kv.value.decode())

    def blackouts(self, network: NetworkName) -> list[str]:
        kv = self._store.get(keys.blackouts(network))
        return list(txn.loads(kv)) if kv else []

    # -- writes --------------------------------------------------------------------------

    def set_blackouts(self, network: NetworkName, cidrs: Sequence[str]) -> list[str]:
        """Replace the network's blackouts; Conflict when a range new to them holds an address."""
        return change_blackouts(self._store, self._topology, network, cidrs, _replace, "set")

    def add_blackouts(self, network: NetworkName, cidrs: Sequence[str]) -> list[str]:
        """Add ranges (one already present is kept as it is); Conflict as for a replacement."""
        return change_blackouts(self._store, self._topology, network, cidrs, ipam.add_ranges, "add")

    def remove_blackouts(self, network: NetworkName, cidrs: Sequence[str]) -> list[str]:
        """Remove ranges, keeping the others; NotFound naming each range that is not there."""

        def remove(current: Blackouts, gone: Blackouts) -> Blackouts:
            return ipam.remove_ranges(network, current, gone)

        return change_blackouts(self._store, self._topology, network, cidrs, remove, "remove")

    def allocate(
        self,
        key: AllocationKey,
        host: HostName,
        tenant: TenantName,
        segment: SegmentName = tenancy.DEFAULT_SEGMENT,
    ) -> ipam.Allocation:
        """The allocation for ``key``: existing (idempotent) or new, lowest free address first."""
        return self.allocate_reporting(key, host, tenant, segment)[0]

    def allocate_reporting(
        self,
        key: AllocationKey,
        host: HostName,
        tenant: TenantName,
        segment: SegmentName = tenancy.DEFAULT_SEGMENT,
        address: str | None = None,
    ) -> tuple[ipam.Allocation, bool]:
        """Like :meth:`allocate`, also saying whether this call created the allocation.

        ``address``, when given, is the one address wanted in its network (the tenant's other
        networks still get their lowest free one): InvalidInput unless it encodes exactly
        this host, tenant and segment with an ordinal that is handed out
        (:func:`ipam.requested_ordinal`); AlreadyExists naming the key that holds it. Its slot
        key's create-if-absent guard, as for any address, settles a race for it. The same key
        asked again with the same address is the same allocation; with another, AlreadyExists.

        The first attempt trusts the cached topology, tenant and blackout records
        (:mod:`romana.services.ipamcache`) and lets the transaction's guards prove them
        current; only a lost race pays for re-reading them.
        """
        ipam.check_key(key)
        wanted = None if address is None else ipam.parse_address(address)
        record_key, tenant_key = keys.alloc_key(key), keys.tenant(tenant)

        def attempt(w: txn.Writes, reads: Store) -> tuple[ipam.Allocation, bool]:
            try:
                return allocate_once(w, reads)
            except (NotFound, InvalidInput, QuotaExceeded):
                if w.attempt == 0:
                    raise txn.Retry from None  # perhaps only the cache is stale: re-read
                raise

        def allocate_once(w: txn.Writes, reads: Store) -> tuple[ipam.Allocation, bool]:
            fresh = w.attempt > 0
            if fresh:
                existing = reads.get(record_key)
                if existing is not None:
                    return self._same_request(existing, host, tenant, segment, wanted), False
            view = self._topology.view() if fresh else self._topology.cached_view()
            tkv = self._cache.record(tenant_key, fresh)
            if tkv is None:
                raise NotFound(f"tenant {tenant!r} does not exist")
            ten = self._cache.tenant(tkv)
            places = self._cache.places(view, tkv, ten, host, segment)
            requested = None
            if wanted is not None:
                indices = view.host_indices(host)
                requested = _requested_network(view, ten, host, indices, wanted)
            addresses: list[addressing.IPAddress] = []
            slots: list[str] = []
            for place in places:
                lay, slot, prefix = place.layout, place.slot, place.prefix
                bkv = self._cache.record(place.blackouts, fresh)
                w.guard(place.blackouts, bkv)
                blackouts = self._cache.blackouts(lay, bkv) if bkv else ()
                if slot.network == requested and wanted is not None:
                    hosts = _host_names(view, slot.network)
                    named = ipam.Wanted(slot, host, tenant, ten.segments, segment, hosts)
                    ordinal = ipam.requested_ordinal(lay, named, wanted, blackouts)
                    self._refuse_taken(reads, key, wanted, prefix + keys.n(ordinal))
                else:
                    used = [int(kv.key[len(prefix) :]) for kv in reads.range(prefix).items]
                    ordinal = ipam.choose_ordinal(lay, slot, used, blackouts)
                addr_key = prefix + keys.n(ordinal)
                w.guard(addr_key, None)
                w.ops.append(Put(addr_key, key.encode()))
                slots.append(addr_key)
                addresses.append(place.base + ordinal)  # encode(), checked once per place
            if not addresses:
                raise InvalidInput(
                    f"host {host!r} has no prefix in any network of tenant {tenant!r} "
                    f"({', '.join(sorted(ten.ids)) or 'none'})"
                )
            # Checked after the address is chosen so that an exhausted block still says so.
            limits = self._quotas.guarded_limits(w, tenant, lambda k: self._cache.record(k, fresh))
            quotas.QuotaService(reads).take_allocation(w, tenant, key, limits.allocations)
            alloc = ipam.Allocation(key, host, tenant, segment, tuple(addresses))
            w.guard(record_key, None)
            w.guard(tenant_key, tkv)
            w.guard(keys.TOPOLOGY, view.kv)
            record = alloc.to_dict()
            record["slots"] = slots
            w.ops.append(Put(record_key, txn.dumps(record)))
            return alloc, True

        return self.batches.run(attempt, what=f"allocate {key!r}")

    def release(self, key: AllocationKey) -> ipam.Allocation:
        """Release an allocation by key; NotFound when there is none."""

        record_key = keys.alloc_key(key)

        def attempt(w: txn.Writes, reads: Store) -> ipam.Allocation:
            kv, raw, alloc = self._held(key, reads)
            w.guard(record_key, kv)
            w.ops.append(Delete(record_key))
            quotas.QuotaService(reads).give_back_allocation(w, alloc.tenant, key)
            # The record names its own address keys, so a release never depends on the
            # current topology decoding the addresses the same way it did at allocation.
            w.ops.extend(Delete(slot) for slot in raw.get("slots", ()))
            if alloc.origin is not None:
                w.ops.append(Delete(keys.moved(key)))  # its exception route goes with it
            external.drop_for_release(reads, w, key)  # and its external IPs
            return alloc

        return self.batches.run(attempt, what=f"release {key!r}")

    def move(self, key: AllocationKey, host: HostName) -> ipam.Allocation:
        """The allocation ``key``, now living on ``host``; its addresses stay as they are.

        Idempotent. Moving it away from the host its addresses encode writes a relocation
        record (``ipam/moved/<key>``), which every host's route plan turns into an exception
        route and whose change wakes every agent; moving it back home deletes that record.
        NotFound for an unknown key or host.
        """

        def attempt(w: txn.Writes) -> ipam.Allocation:
            kv, raw, alloc = self._held(key)
            view = self._topology.view()
            view.topology.host(host)
            if alloc.host == host:
                return alloc
            moved = alloc.moved_to(host)
            w.guard(keys.alloc_key(key), kv)
            w.guard(keys.TOPOLOGY, view.kv)
            record = {k: v for k, v in raw.items() if k != "origin"}
            w.ops.append(Put(keys.alloc_key(key), txn.dumps({**record, **moved.to_dict()})))
            if moved.origin is None:
                w.ops.append(Delete(keys.moved(key)))
            else:
                relocation = {
                    "key": key,
                    "host": host,
                    "origin": moved.origin,
                    "tenant": moved.tenant,
                    "addresses": [str(a) for a in moved.addresses],
                }
                w.ops.append(Put(keys.moved(key), txn.dumps(relocation)))
            return moved

        return txn.run(self._store, attempt, what=f"move {key!r} to host {host!r}")

    def set_workload(self, key: AllocationKey, workload: str) -> ipam.Allocation:
        """The allocation ``key``, now saying ``workload`` holds it (:data:`ipam.WORKLOAD_RULE`).

        Idempotent: the same workload again writes nothing. Another one replaces it (a
        caller that learns better knows best). InvalidInput for a workload breaking the rule,
        NotFound for an unknown key.
        """
        ipam.check_workload(workload)

        def attempt(w: txn.Writes) -> ipam.Allocation:
            kv, raw, alloc = self._held(key)
            if alloc.workload == workload:
                return alloc
            w.guard(keys.alloc_key(key), kv)
            w.ops.append(Put(keys.alloc_key(key), txn.dumps({**raw, "workload": workload})))
            return dataclasses.replace(alloc, workload=workload)

        return txn.run(self._store, attempt, what=f"set the workload of {key!r}")

    def release_address(self, address: str) -> ipam.Allocation:
        return self.release(self.key_of(address))

    # -- helpers -------------------------------------------------------------------------

    def _held(
        self, key: AllocationKey, reads: Store | None = None
    ) -> tuple[KeyValue, dict[str, Any], ipam.Allocation]:
        """The stored allocation ``key`` (as ``reads`` has it, else the store): its key-value
        (to guard), record and value; NotFound when there is none."""
        kv = (reads or self._store).get(keys.alloc_key(key))
        if kv is None:
            raise NotFound(f"no allocation with key {key!r}")
        raw = txn.loads(kv)
        return kv, raw, ipam.Allocation.from_dict(raw)

    def _same_request(
        self,
        kv: KeyValue,
        host: HostName,
        tenant: TenantName,
        segment: SegmentName,
        address: addressing.IPAddress | None = None,
    ) -> ipam.Allocation:
        """The stored allocation ``kv`` if it is what was asked for; else KeyInUse, or
        AlreadyExists when it holds other addresses than the one requested."""
        alloc = ipam.Allocation.from_dict(txn.loads(kv))
        if (alloc.host, alloc.tenant, alloc.segment) != (host, tenant, segment):
            raise ipam.KeyInUse(alloc)
        if address is not None and address not in alloc.addresses:
            held = ", ".join(str(a) for a in alloc.addresses)
            raise AlreadyExists(
                f"key {alloc.key!r} holds {held}, not the requested address {address}; "
                "release it first, or use another key"
            )
        return alloc

    def _refuse_taken(
        self, reads: Store, key: AllocationKey, address: addressing.IPAddress, slot: str
    ) -> None:
        """AddressInUse naming the allocation that holds the requested ``address`` (slot key
        ``slot``). Read fresh: the slot guard alone would only make the commit fail."""
        kv = reads.get(slot)
        if kv is None:
            return
        holder = AllocationKey(kv.value.decode())
        held = reads.get(keys.alloc_key(holder))
        # The key's own slot means the cached attempt missed its record; no record means the
        # holder was released since: either way, read again.
        if holder == key or held is None:
            raise txn.Retry
        raise ipam.AddressInUse(address, ipam.Allocation.from_dict(txn.loads(held)))
