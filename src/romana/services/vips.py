"""VIPs over the store (:mod:`romana.core.vips`): their addresses, endpoints and leases.

Keys (:mod:`romana.services.keys`): a VIP is ``vips/<name>``; its address is reserved at
``external/ips/<address>`` (an :class:`~romana.core.external.ExternalIp` with ``vip`` set),
the key external IPs are assigned at, so a VIP and an external IP never share an address;
its lease is ``vip-leases/<name>``, rewritten at every renewal; who holds it is
``vip-holders/<name>`` (``{"host", "term"}``), written only when the lease's holder or term
changes, so what wakes on it (host views) wakes at takeovers only.

Invariants:

* Every change is one store transaction that guards what it read: creating a VIP guards its
  key (absent), its pool, each endpoint's allocation and the address (absent); changing its
  endpoints guards the VIP and the allocations; deleting it removes the VIP, the
  reservation, the lease and the holder together. Bad input writes nothing.
* A VIP's address is a usable address of its pool (:func:`externaladdress.check_in_pool`) of a
  family at least one of its endpoints has a romana address of (when it has endpoints).
* A lease is decided by :func:`romana.core.vips.grant` from the stored lease, romanad's
  clock and the hosts the VIP's existing endpoint allocations live on (within the pool's
  group when it has one), and written in a transaction guarding the lease and the VIP: two
  hosts asking at once are decided one after the other, and no lease outlives its VIP.
"""

from __future__ import annotations

import builtins
import re
import time
from collections.abc import Callable, Iterable, Sequence, Set

from romana.core import externaladdress, names, vips
from romana.core.addressing import IPAddress
from romana.core.errors import AlreadyExists, InvalidInput, Issue, Issues, NotFound
from romana.core.external import ExternalIp, ExternalPool
from romana.core.identifiers import AllocationKey, HostName, TenantName
from romana.core.ipam import Allocation
from romana.core.store import Delete, KeyValue, Put, Store
from romana.core.vips import Lease, Vip
from romana.services import keys, txn
from romana.services.external import ExternalService
from romana.services.externaladdrs import free_address, in_group, no_pool, refuse_taken
from romana.services.ipam import IpamService

_NAME = re.compile(vips.NAME_PATTERN)


def no_vip(name: str) -> str:
    return f"VIP {name!r} does not exist"


class VipService:
    def __init__(
        self,
        store: Store,
        external: ExternalService,
        ipam: IpamService,
        *,
        ttl: float = vips.DEFAULT_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not vips.MIN_TTL <= ttl <= vips.MAX_TTL:
            raise _refused(
                "ttl", f"must be {vips.MIN_TTL:g}..{vips.MAX_TTL:g} seconds, not {ttl!r}"
            )
        self._store = store
        self._external = external
        self._ipam = ipam
        self._topology = external.topology
        self.ttl = ttl
        self._clock = clock

    # -- reads ---------------------------------------------------------------------------

    def get(self, name: str) -> Vip:
        return self._read(name)[1]

    def _read(self, name: str) -> tuple[KeyValue, Vip]:
        """VIP ``name`` and its key-value, to guard; NotFound when there is none."""
        kv = self._store.get(keys.vip(name))
        if kv is None:
            raise NotFound(no_vip(name))
        return kv, Vip.from_dict(txn.loads(kv))

    def list(self) -> builtins.list[Vip]:
        """Every VIP, by name."""
        return [Vip.from_dict(raw) for raw in txn.loads_all(self._store.range(keys.VIPS).items)]

    def holder(self, name: str) -> HostName | None:
        """The host whose lease of VIP ``name`` is valid now; None when nobody's is."""
        kv = self._store.get(keys.vip_lease(name))
        if kv is None:
            return None
        lease = Lease.from_dict(txn.loads(kv))
        return lease.host if lease.valid(self._clock()) else None

    def current(self) -> dict[str, HostName]:
        """VIP name → the host whose lease is valid now, for every VIP somebody holds."""
        now = self._clock()
        leases = (Lease.from_dict(raw) for raw in txn.loads_all(self._range(keys.VIP_LEASES)))
        return {lease.vip: lease.host for lease in leases if lease.valid(now)}

    def holders(self) -> dict[str, tuple[HostName, int]]:
        """VIP name → (host, term) of its last granted holder (``vip-holders/``), whether
        or not the lease is still valid: what host views follow."""
        found: dict[str, tuple[HostName, int]] = {}
        for kv in self._range(keys.VIP_HOLDERS):
            raw = txn.loads(kv)
            found[kv.key[len(keys.VIP_HOLDERS) :]] = (HostName(str(raw["host"])), int(raw["term"]))
        return found

    def _range(self, prefix: str) -> Sequence[KeyValue]:
        return self._store.range(prefix).items

    # -- changes -------------------------------------------------------------------------

    def create(
        self, name: str, pool: str, endpoints: Sequence[str], address: IPAddress | None = None
    ) -> Vip:
        """See :meth:`create_reporting`."""
        return self.create_reporting(name, pool, endpoints, address)[0]

    def create_reporting(
        self, name: str, pool: str, endpoints: Sequence[str], address: IPAddress | None = None
    ) -> tuple[Vip, bool]:
        """VIP ``name`` of an address of ``pool`` in front of ``endpoints`` (allocation keys
        or romana addresses, each NotFound at ``endpoints[i]`` unless allocated), and whether
        this call created it.

        ``address`` given: it must be a usable address of the pool and free (AlreadyExists
        naming who holds it). Not given: the pool's lowest free address of the first family,
        IPv4 first, the endpoints have a romana address of (any family of the pool when there
        are none); Exhausted when none is free. Either way at least one endpoint must have a
        romana address of its family (InvalidInput at ``address``). The same VIP again (same
        pool and endpoints, the same or no address) answers it and writes nothing; other
        content is AlreadyExists naming each field that differs."""
        _check_shape(name, endpoints)
        key = keys.vip(name)

        def attempt(w: txn.Writes) -> tuple[Vip, bool]:
            resolved = self._resolve(endpoints, w)
            wanted_keys = tuple(a.key for a in resolved)
            kv = self._store.get(key)
            if kv is not None:
                return _same(Vip.from_dict(txn.loads(kv)), pool, wanted_keys, address), False
            pkv = self._store.get(keys.external_pool(pool))
            if pkv is None:
                raise NotFound(no_pool(pool))
            chosen = ExternalPool.from_dict(txn.loads(pkv))
            families = {a.version for alloc in resolved for a in alloc.addresses}
            if address is not None:
                externaladdress.check_in_pool(chosen, address)
                _check_family(address, families, resolved)
                refuse_taken(self._store, address, picked=False)
                wanted = address
            else:
                wanted = free_address(self._store, chosen, _family(chosen, families))
                refuse_taken(self._store, wanted, picked=True)
            vip = Vip(name, wanted, pool, wanted_keys)
            vips.check(vip)
            reservation = ExternalIp(wanted, pool, AllocationKey(""), TenantName(""), vip=name)
            w.guard(key, None)
            w.guard(keys.external_pool(pool), pkv)
            w.guard(keys.external_ip(wanted), None)
            w.ops.append(Put(key, txn.dumps(vip.to_dict())))
            w.ops.append(Put(keys.external_ip(wanted), txn.dumps(reservation.to_dict())))
            return vip, True

        return txn.run(self._store, attempt, what=f"create VIP {name!r}")

    def set_endpoints(self, name: str, endpoints: Sequence[str]) -> Vip:
        """Put VIP ``name`` in front of ``endpoints`` instead (none: nobody may hold it);
        NotFound for an unknown VIP or endpoint, InvalidInput at ``endpoints`` when none of
        them has a romana address of the VIP's family. The same endpoints write nothing."""
        _check_shape(name, endpoints)
        key = keys.vip(name)

        def attempt(w: txn.Writes) -> Vip:
            kv, stored = self._read(name)
            resolved = self._resolve(endpoints, w)
            families = {a.version for alloc in resolved for a in alloc.addresses}
            if resolved and stored.address.version not in families:
                raise _refused("endpoints", _no_family(stored.address, resolved, f"VIP {name!r}"))
            vip = Vip(name, stored.address, stored.pool, tuple(a.key for a in resolved))
            vips.check(vip)
            if set(vip.endpoints) == set(stored.endpoints):
                return stored
            w.guard(key, kv)
            w.ops.append(Put(key, txn.dumps(vip.to_dict())))
            return vip

        return txn.run(self._store, attempt, what=f"set the endpoints of VIP {name!r}")

    def delete(self, name: str) -> Vip:
        """Delete VIP ``name`` with its address reservation, lease and holder; the VIP it
        was. NotFound when there is none."""
        key = keys.vip(name)

        def attempt(w: txn.Writes) -> Vip:
            kv, vip = self._read(name)
            reserved = keys.external_ip(vip.address)
            rkv = self._store.get(reserved)
            w.guard(key, kv)
            w.guard(reserved, rkv)
            if rkv is not None and ExternalIp.from_dict(txn.loads(rkv)).vip == name:
                w.ops.append(Delete(reserved))
            w.ops.extend([Delete(key), Delete(keys.vip_lease(name)), Delete(keys.vip_holder(name))])
            return vip

        return txn.run(self._store, attempt, what=f"delete VIP {name!r}")

    # -- leases --------------------------------------------------------------------------

    def lease(self, name: str, host: HostName, release: bool = False) -> dict[str, object]:
        """Host ``host`` asks for (or, with ``release``, gives up) the lease of VIP
        ``name``; the answer: ``{"vip", "held", "holder", "term", "ttl", "expires_in"}``
        (``holder`` the host whose lease is valid after the decision, None when nobody's;
        ``expires_in`` seconds of it left, 0 when none). NotFound for an unknown VIP or a
        host the topology lacks."""
        self._topology.view().topology.host(host)
        vkey, lkey = keys.vip(name), keys.vip_lease(name)

        def attempt(w: txn.Writes) -> dict[str, object]:
            vkv, vip = self._read(name)
            lkv = self._store.get(lkey)
            current = None if lkv is None else Lease.from_dict(txn.loads(lkv))
            wanted = {host} if current is None else {host, current.host}
            eligible = self._eligible(vip, wanted)
            now = self._clock()
            decided = vips.grant(
                name, current, host, now=now, ttl=self.ttl, eligible=eligible, release=release
            )
            new = decided.write
            if new is not None:
                w.guard(vkey, vkv)
                w.guard(lkey, lkv)
                w.ops.append(Put(lkey, txn.dumps(new.to_dict())))
                if current is None or (current.host, current.term) != (new.host, new.term):
                    holder = {"host": new.host, "term": new.term}
                    w.ops.append(Put(keys.vip_holder(name), txn.dumps(holder)))
            return self._answer(name, decided, now)

        return txn.run(self._store, attempt, what=f"lease VIP {name!r} to host {host!r}")

    def _answer(self, name: str, decided: vips.Grant, now: float) -> dict[str, object]:
        lease = decided.lease
        valid = lease is not None and lease.valid(now)
        return {
            "vip": name,
            "held": decided.held,
            "holder": lease.host if lease is not None and valid else None,
            "term": 0 if lease is None else lease.term,
            "ttl": self.ttl,
            "expires_in": max(0.0, lease.expires - now) if lease is not None and valid else 0.0,
        }

    def _eligible(self, vip: Vip, wanted: Iterable[HostName]) -> set[HostName]:
        """Which of the hosts ``wanted`` may hold ``vip``: one of its endpoint allocations
        lives there, and the host is in the pool's group when it has one. Reads the
        allocations only until each wanted host is found (a lease call runs several times a
        second per contender)."""
        left = set(wanted)
        found: set[HostName] = set()
        for key in vip.endpoints:
            if not left:
                break
            try:
                alloc = self._ipam.get(key)
            except NotFound:
                continue  # released: the VIP names it until its endpoints are set again
            if alloc.host in left:
                left.discard(alloc.host)
                found.add(alloc.host)
        if not found:
            return found
        pkv = self._store.get(keys.external_pool(vip.pool))
        group = None if pkv is None else ExternalPool.from_dict(txn.loads(pkv)).group
        if group is None:
            return found
        topology = self._topology.view().topology
        return {h for h in found if in_group(topology, h, group)}

    # -- helpers -------------------------------------------------------------------------

    def _resolve(self, endpoints: Sequence[str], w: txn.Writes) -> builtins.list[Allocation]:
        """The allocation of each of ``endpoints``, each read guarded in ``w``; InvalidInput
        at ``endpoints[i]`` for each text that is neither a key nor an address, NotFound at
        the first that names no allocation, InvalidInput at ``endpoints`` when two name the
        same one."""
        issues = Issues()
        found: builtins.list[Allocation] = []
        for i, text in enumerate(endpoints):
            where = f"endpoints[{i}]"
            try:
                alloc = self._external.endpoint(text)
            except InvalidInput as exc:
                issues.extend(Issue(where, issue.rule) for issue in exc.issues)
                continue
            except NotFound as exc:
                raise NotFound(f"{where}: {exc}") from None
            kv = self._store.get(keys.alloc_key(alloc.key))
            if kv is None:
                raise txn.Retry  # released since: read again
            w.guard(keys.alloc_key(alloc.key), kv)
            found.append(Allocation.from_dict(txn.loads(kv)))
        seen: dict[str, int] = {}
        for i, alloc in enumerate(found):
            if alloc.key in seen:
                first = f"first at endpoints[{seen[alloc.key]}]"
                issues.add("endpoints", f"endpoint {alloc.key!r} is named twice ({first})")
            seen.setdefault(alloc.key, i)
        issues.raise_if_any()
        return found


def _refused(field: str, rule: str) -> InvalidInput:
    return InvalidInput([Issue(field, rule)])


def _check_shape(name: str, endpoints: Sequence[str]) -> None:
    """The checks that need no store: the name and how many endpoints."""
    issues = Issues()
    if not names.matches(_NAME, name):
        issues.add("name", f"{name!r} {vips.NAME_RULE}")
    if len(endpoints) > vips.MAX_ENDPOINTS:
        issues.add("endpoints", f"must hold at most {vips.MAX_ENDPOINTS} endpoints")
    issues.raise_if_any()


def _family(pool: ExternalPool, families: Set[int]) -> int:
    """The first family, IPv4 first, of the pool's CIDRs the endpoints have an address of
    (any of the pool's without endpoints); InvalidInput at ``pool`` when none."""
    ours = families or {c.version for c in pool.cidrs}
    return externaladdress.shared_family(pool, ours, "the endpoints have")


def _check_family(address: IPAddress, families: Set[int], resolved: Sequence[Allocation]) -> None:
    if resolved and address.version not in families:
        raise _refused("address", _no_family(address, resolved, str(address)))


def _no_family(address: IPAddress, resolved: Sequence[Allocation], what: str) -> str:
    return (
        f"no endpoint has a romana IPv{address.version} address, which {what} needs "
        f"(endpoints: {', '.join(a.key for a in resolved)})"
    )


def _same(
    stored: Vip, pool: str, endpoints: tuple[AllocationKey, ...], address: IPAddress | None
) -> Vip:
    """``stored`` when the request asks for it again; AlreadyExists naming what differs."""
    differing = []
    if stored.pool != pool:
        differing.append(f"pool {stored.pool!r} (not {pool!r})")
    if set(stored.endpoints) != set(endpoints):
        differing.append(
            f"endpoints [{', '.join(stored.endpoints)}] (not [{', '.join(endpoints)}])"
        )
    if address is not None and stored.address != address:
        differing.append(f"address {stored.address} (not {address})")
    if not differing:
        return stored
    raise AlreadyExists(
        f"VIP {stored.name!r} exists already, with {', '.join(differing)}; set its endpoints "
        "instead, or delete it and create it again"
    )
