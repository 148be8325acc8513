"""The parts of the host view every host shares, read and parsed once for all hosts.

After a change every waiting agent asks for its view at once. Most of each view is the same
for every host: every tenant, the parsed policies (with their owner and the address sets
each names) and the address sets. :class:`SharedParts` reads and parses those once per
store revision and hands the same objects to every host's view built at that revision.
A key is parsed again only once written (one policy added parses one policy), and a part
is the same object while nothing under its prefix changed (its :func:`fingerprint`). The
host's own part of a view (its endpoints, routes, the policies its tenants own) is read per
host (:mod:`romana.services.hostview`).

Invariants:

* A prefix's :func:`fingerprint` changes with every change under it: a write gives its key a
  revision above every revision stored, so the highest rises; a delete alone leaves one key
  fewer.
* :attr:`Shared.revision` is a store revision at which every part was current: the parts
  were read between two readings of the store revision with nothing a view reads written
  in between (:meth:`ViewReads.unchanged`). Only such parts are kept for reuse.
* Parts are shared between the views of every host and with callers: nobody mutates them.
* Concurrent views of one revision build the parts once: the first builds them under a
  lock, the others wait for it and reuse them.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from romana.core import errors, ipam
from romana.core.identifiers import AllocationKey
from romana.core.policy import ids
from romana.core.store import KeyValue, Store
from romana.core.tenancy import Tenant
from romana.services import keys, policy, txn

V = TypeVar("V")

# What no view reads: a change there leaves every view as it was, so a view read while only
# these changed is still current (a prefix missing here is only a needless re-read).
UNREAD = (
    keys.REGISTRY,
    keys.AUTH,
    keys.KUBE,
    keys.QUOTAS,
    keys.USAGE,
    keys.DOCKER_POOLS,
    keys.ROUTING,
    keys.VIP_LEASES,
    keys.TENANT_IDS,
    keys.ADDRESS_SET_OWNERS,
    keys.EXTERNAL_BY_KEY,
    keys.PROBES,
    policy.GENERATION,
)
_WATCHED = "/romana/"
"""Every key of romana's, so that every revision in a range shows up as an event."""


Lookup = Callable[[str], ipam.Allocation | None]
"""An allocation by key; None when there is none."""


class Allocations:
    """Allocations read from the store by key, each at most once: what one view read holds
    of other hosts' allocations (external addresses, VIP endpoints) and of its own."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._read: dict[str, ipam.Allocation | None] = {}

    def __call__(self, key: str) -> ipam.Allocation | None:
        if key in self._read:
            return self._read[key]
        kv = self._store.get(keys.alloc_key(AllocationKey(key)))
        found = None if kv is None else ipam.Allocation.from_dict(txn.loads(kv))
        self._read[key] = found
        return found


def fingerprint(items: Sequence[KeyValue]) -> tuple[int, int]:
    """How many keys a range read holds and their highest mod revision: equal fingerprints of
    one prefix mean equal contents (module invariants)."""
    return len(items), max((kv.mod_revision for kv in items), default=0)


class ByPrefix(Generic[V]):
    """``parse(kv)`` of every key under ``prefix``, in key order; a key is parsed again only
    when it was written since the last call, and the whole tuple is the same object while
    nothing under the prefix changed."""

    def __init__(self, store: Store, prefix: str, parse: Callable[[KeyValue], V]) -> None:
        self._store = store
        self._prefix = prefix
        self._parse = parse
        self._last: tuple[tuple[int, int], tuple[V, ...], dict[str, tuple[int, V]]] | None = None

    def __call__(self) -> tuple[V, ...]:
        items = self._store.range(self._prefix).items
        seen = fingerprint(items)
        last = self._last
        if last is not None and last[0] == seen:
            return last[1]
        known = {} if last is None else last[2]
        parsed: dict[str, tuple[int, V]] = {}
        for kv in items:
            hit = known.get(kv.key)
            parsed[kv.key] = (
                hit
                if hit is not None and hit[0] == kv.mod_revision
                else (kv.mod_revision, self._parse(kv))
            )
        values = tuple(v for _, v in parsed.values())
        self._last = (seen, values, parsed)  # one assignment: a reader sees old or new
        return values


@dataclass(frozen=True, slots=True)
class OwnedPolicy:
    """A stored policy, with the tenant owning it (None: in every view) and the sets it names."""

    owner: str | None
    document: dict[str, Any]
    sets: frozenset[str]


@dataclass(frozen=True, slots=True)
class Shared:
    """The parts every host's view carries or picks from, current at ``revision``."""

    revision: int
    tenants: tuple[dict[str, Any], ...]
    """Every tenant in its wire form."""
    policies: tuple[OwnedPolicy, ...]
    address_sets: tuple[tuple[str, list[str]], ...]
    """Every address set: name, members."""


def carried(policies: Sequence[OwnedPolicy], tenants: frozenset[str]) -> list[dict[str, Any]]:
    """The policies a host with allocations of ``tenants`` needs."""
    return [p.document for p in policies if p.owner is None or p.owner in tenants]


def named(policies: Sequence[OwnedPolicy], tenants: frozenset[str]) -> frozenset[str]:
    """The address sets the policies :func:`carried` picks name."""
    return frozenset(s for p in policies if p.owner is None or p.owner in tenants for s in p.sets)


def _tenant(kv: KeyValue) -> dict[str, Any]:
    return Tenant.from_dict(txn.loads(kv)).to_dict()


def _policy(kv: KeyValue) -> OwnedPolicy:
    document = txn.loads(kv)
    owner = ids.owner_of_id(kv.key[len(keys.POLICIES) :])
    return OwnedPolicy(owner, document, frozenset(ids.named_sets(document)))


def _set(kv: KeyValue) -> tuple[str, list[str]]:
    return kv.key[len(keys.ADDRESS_SETS) :], txn.loads(kv)


class ViewReads:
    """Judges whether what views read changed between two store revisions."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def unchanged(self, low: int, high: int) -> bool:
        """Whether nothing any view reads was written after revision ``low`` up to ``high``
        (False when that cannot be told: the history is gone or the store failed)."""
        if low == high:
            return True
        try:
            events = self._store.watch(_WATCHED, low + 1, 0.0)
        except errors.RomanaError:
            return False
        within = [e for e in events if e.revision <= high]
        if len({e.revision for e in within}) < high - low:
            return False  # a revision whose events were not all returned
        return not any(e.key.startswith(keys.ROOT) and not e.key.startswith(UNREAD) for e in within)


class SharedParts:
    """The :class:`Shared` parts of the views, built once per store revision."""

    ATTEMPTS = 3
    REUSE_SPAN = 1000
    """Parts built this few revisions ago are reused when nothing views read changed since
    (writes elsewhere, VIP leases, move the revision several times a second); from further
    back they are read again, rather than scanning a long history."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._reads = ViewReads(store)
        self._lock = threading.Lock()
        self._last: Shared | None = None
        self._tenants = ByPrefix(store, keys.TENANTS, _tenant)
        self._policies = ByPrefix(store, keys.POLICIES, _policy)
        self._sets = ByPrefix(store, keys.ADDRESS_SETS, _set)
        self._by_id: tuple[tuple[dict[str, Any], ...], dict[tuple[str, int], str]] | None = None

    def by_id(self, shared: Shared) -> Mapping[tuple[str, int], str]:
        """The tenant holding each (network, tenant id) in ``shared``: what ``tenant-ids/``
        says, from the tenant records written with it."""
        last = self._by_id
        if last is not None and last[0] is shared.tenants:
            return last[1]
        index = {
            (str(n), int(i)): str(t["name"]) for t in shared.tenants for n, i in t["ids"].items()
        }
        self._by_id = (shared.tenants, index)
        return index

    def at(self, revision: int) -> Shared:
        """The parts as of ``revision`` when the last ones built are current at it; otherwise
        read now (current at the revision they say, or not at all when writes kept coming:
        the caller judges its whole read, which encloses this one)."""
        with self._lock:
            last = self._last
            if last is not None and last.revision == revision:
                return last
            if (
                last is not None
                and last.revision < revision <= last.revision + self.REUSE_SPAN
                and self._reads.unchanged(last.revision, revision)
            ):
                self._last = dataclasses.replace(last, revision=revision)
                return self._last
            before = self._store.revision()
            for _ in range(self.ATTEMPTS):
                fresh = Shared(before, self._tenants(), self._policies(), self._sets())
                after = self._store.revision()
                if self._reads.unchanged(before, after):
                    self._last = fresh
                    return fresh
                before = after
            return fresh
