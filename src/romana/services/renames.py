"""The state kept under network names, and moving it when a topology renames a network.

Address slots (``ipam/addr/<network>/…``), tenant ids (``tenant-ids/<network>/…``) and
blackouts (``blackouts/<network>``) are keyed by network name, and tenant records
(``ids``, ``requested_networks``) and allocation records (``slots``) name networks inside
their JSON. A rename (:class:`romana.core.topology.change.Change`) rewrites all of them in the
transaction that applies the new topology, so no reader ever sees the new topology with state
left under the old name. A network the change *drops* (its name is taken over by a renamed
one) loses its leftover tenant ids and blackouts in the same transaction.

Guards, chosen so that the transaction stays small (etcd refuses one with more than
``--max-txn-ops`` compares or operations, 128 by default):

* :func:`read` guards each range it reads as a whole (:meth:`romana.services.txn.Writes.
  guard_range`: one compare per prefix), so an allocation or tenant creation that commits
  under the old name after the read, or a tenant record written since, makes the apply retry.
* A range guard does not see a deleted key, and a key deleted after the read would come back
  under the new name. But an address slot is deleted only by a release, which deletes its
  allocation record in the same transaction, and a tenant id only with its tenant's record;
  every record that names a moved network is rewritten here and guarded by its revision, so
  such a delete makes the apply retry too. Blackouts (one key per network) are guarded by
  revision. Nothing else is guarded per key, and tenant records that name no moved network
  are neither guarded nor rewritten.

What stays proportional to the state moved are the writes: a delete and a put per address
slot and tenant id, and a put per allocation and tenant record (:class:`Moved` counts them).

Records are rewritten from their raw JSON, changing only the network names, so fields this
module does not know survive.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from romana.core.identifiers import AllocationKey, NetworkName
from romana.core.store import Delete, KeyValue, Put, Store
from romana.core.topology.change import Change, Held
from romana.services import keys, txn


@dataclass(frozen=True, slots=True)
class Stored:
    """What the store keeps under network names, as one attempt read (and guarded) it."""

    slots: Mapping[str, tuple[KeyValue, ...]] = field(default_factory=dict)
    """Network name → its address slot keys (value: the allocation key)."""
    tenant_ids: Mapping[str, tuple[KeyValue, ...]] = field(default_factory=dict)
    """Network name → its tenant-id keys (value: the tenant name)."""
    tenants: tuple[KeyValue, ...] = ()
    """Every tenant record."""

    def held(self) -> dict[str, Held]:
        """Network name → what it holds: addresses per host index, highest tenant id, and the
        highest segment of every tenant pinned to it."""
        top_segments: dict[str, dict[str, tuple[str, int]]] = {}
        for kv in self.tenants:
            record: dict[str, Any] = json.loads(kv.value)
            segments: dict[str, int] = record.get("segments", {})
            if not segments:
                continue
            top = max(segments.items(), key=lambda item: (item[1], item[0]))
            for network in record.get("ids", {}):
                top_segments.setdefault(network, {})[kv.key[len(keys.TENANTS) :]] = top
        held: dict[str, Held] = {}
        for name in self.slots.keys() | self.tenant_ids.keys():
            addresses: dict[int, int] = {}
            for kv in self.slots.get(name, ()):
                index = keys.parse_addr(kv.key)[1]
                addresses[index] = addresses.get(index, 0) + 1
            ids = self.tenant_ids.get(name, ())
            top_id = max((int(kv.key.rsplit("/", 1)[1]) for kv in ids), default=0)
            held[name] = Held(addresses, top_id, top_segments.get(name, {}))
        return held


@dataclass(frozen=True, slots=True)
class Moved:
    """How much one :func:`move` carries: the writes a rename costs."""

    slots: int = 0
    """Address slots moved (a delete and a put each)."""
    allocations: int = 0
    """Allocation records rewritten."""
    tenant_ids: int = 0
    """Tenant ids moved (a delete and a put each)."""
    tenants: int = 0
    """Tenant records rewritten."""


def _range(store: Store, w: txn.Writes, prefix: str) -> tuple[KeyValue, ...]:
    found = store.range(prefix)
    w.guard_range(prefix, found.revision)
    return found.items


def read(store: Store, w: txn.Writes, networks: Iterable[str]) -> Stored:
    """Read, guarding each range, what ``networks`` hold, and every tenant record."""
    slots: dict[str, tuple[KeyValue, ...]] = {}
    tenant_ids: dict[str, tuple[KeyValue, ...]] = {}
    for name in networks:
        slots[name] = _range(store, w, keys.addr_network(NetworkName(name)))
        tenant_ids[name] = _range(store, w, keys.tenant_ids(NetworkName(name)))
    return Stored(slots, tenant_ids, _range(store, w, keys.TENANTS))


def move(store: Store, w: txn.Writes, change: Change, stored: Stored) -> Moved:
    """Append to ``w`` the guards and writes that carry out ``change``.

    ``stored`` must have been read by :func:`read` into the same ``w``, for every old network.
    """
    renames, dropped = change.renames, change.dropped
    if not renames and not dropped:
        return Moved()
    puts: dict[str, bytes] = {}
    deletes: set[str] = set()
    allocations: set[AllocationKey] = set()
    moved_slots = moved_ids = 0

    def blackouts(network: NetworkName) -> KeyValue | None:
        kv = store.get(keys.blackouts(network))
        w.guard(keys.blackouts(network), kv)
        return kv

    for old, new in renames.items():
        for kv in stored.slots.get(old, ()):
            deletes.add(kv.key)
            puts[keys.addr_network(new) + kv.key[len(keys.addr_network(old)) :]] = kv.value
            allocations.add(AllocationKey(kv.value.decode()))
            moved_slots += 1
        for kv in stored.tenant_ids.get(old, ()):
            deletes.add(kv.key)
            puts[keys.tenant_ids(new) + kv.key[len(keys.tenant_ids(old)) :]] = kv.value
            moved_ids += 1
        found = blackouts(old)
        if found is not None:
            deletes.add(found.key)
            puts[keys.blackouts(new)] = found.value
    for name in dropped:
        deletes.update(kv.key for kv in stored.tenant_ids.get(name, ()))
        found = blackouts(name)
        if found is not None:
            deletes.add(found.key)
    records = _rewrite_allocations(store, w, puts, allocations, _renamer(renames))
    tenants = _rewrite_tenants(w, puts, stored.tenants, renames, dropped)
    # A swap (a→b, b→a) both deletes and writes a key: the write wins, and a transaction may
    # name a key only once.
    w.ops.extend(Delete(k) for k in sorted(deletes - puts.keys()))
    w.ops.extend(Put(k, v) for k, v in puts.items())
    return Moved(moved_slots, records, moved_ids, tenants)


def _renamer(renames: Mapping[NetworkName, NetworkName]) -> Callable[[str], str]:
    prefixes = [(keys.addr_network(o), keys.addr_network(n)) for o, n in renames.items()]

    def rename(key: str) -> str:
        for old, new in prefixes:
            if key.startswith(old):
                return new + key[len(old) :]
        return key

    return rename


def _rewrite_allocations(
    store: Store,
    w: txn.Writes,
    puts: dict[str, bytes],
    names: set[AllocationKey],
    rename: Callable[[str], str],
) -> int:
    count = 0
    for name in sorted(names):
        kv = store.get(keys.alloc_key(name))
        if kv is None:
            continue  # a slot without its record: nothing names the slot, so nothing to fix
        w.guard(kv.key, kv)
        record = txn.loads(kv)
        record["slots"] = [rename(s) for s in record.get("slots", [])]
        puts[kv.key] = txn.dumps(record)
        count += 1
    return count


def _rewrite_tenants(
    w: txn.Writes,
    puts: dict[str, bytes],
    tenants: Iterable[KeyValue],
    renames: Mapping[NetworkName, NetworkName],
    dropped: frozenset[NetworkName],
) -> int:
    gone = dropped | renames.keys()
    count = 0
    for kv in tenants:
        record: dict[str, Any] = json.loads(kv.value)
        ids: dict[NetworkName, int] = record.get("ids", {})
        requested: list[NetworkName] = record.get("requested_networks", [])
        if not gone & (ids.keys() | set(requested)):
            continue
        # Names are mapped all at once, so a swap (a→b, b→a) cannot collide.
        record["ids"] = {renames.get(n, n): tid for n, tid in ids.items() if n not in dropped}
        record["requested_networks"] = [renames.get(n, n) for n in requested if n not in dropped]
        w.guard(kv.key, kv)
        puts[kv.key] = txn.dumps(record)
        count += 1
    return count
