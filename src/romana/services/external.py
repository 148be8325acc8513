"""External pools, external IPs and egress NAT over the store (:mod:`romana.core.external`).

Keys (:mod:`romana.services.keys`): a pool is ``external/pools/<name>``, an assigned external
IP ``external/ips/<address>`` (its pool, the allocation key it is assigned to and that
allocation's tenant), the addresses each allocation holds ``external/by-key/<key>``, and a
network's egress NAT setting ``external/nat/<network>`` (absent: the default, NAT on).
What external IPs share with VIPs (a free address, a taken one, the allocation an endpoint
names) is in :mod:`romana.services.externaladdrs`.

Invariants:

* Every change is one store transaction that guards what it read: a pool write guards the
  topology (the romana networks and groups it was checked against) and the range of pools;
  an assignment guards the allocation, the pool, the address (created only if absent) and
  the allocation's index; a NAT setting guards the topology and each tenant it names. Bad
  input writes nothing.
* An external IP lies in a CIDR of its pool and is :func:`externaladdress.usable` there; it is
  assigned to an allocation that holds a romana address of its family, on a host of the
  pool's group when the pool has one (checked when it is assigned: an allocation that moves
  later keeps it, since it names the allocation, not the host). An allocation holds at most
  one external IP per family.
* Releasing an allocation deletes its external IPs in the release's own transaction
  (:func:`drop_for_release`), so no external IP ever names a released key.
* A pool is deleted only while none of its addresses is assigned.
* A VIP's address (:mod:`romana.services.vips`) is reserved under the same key, with
  ``vip`` set and no allocation: an external IP never takes it, and it is never unassigned
  here (deleting the VIP frees it).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable

from romana.core import external, externaladdress, ipam
from romana.core.addressing import IPAddress
from romana.core.errors import Conflict, InvalidInput, Issue, NotFound
from romana.core.external import EgressNat, ExternalIp, ExternalPool
from romana.core.identifiers import AllocationKey, NetworkName, TenantName
from romana.core.store import Delete, Put, Store
from romana.services import keys, txn
from romana.services.externaladdrs import (
    address_of,
    assigned_ips,
    endpoint_allocation,
    free_address,
    has_group,
    in_group,
    no_pool,
    not_assigned,
    refuse_taken,
    same_pool,
)
from romana.services.tenants import TenantService
from romana.services.topology import TopologyService


def drop_for_release(store: Store, w: txn.Writes, key: AllocationKey) -> None:
    """Add to ``w`` (the release of allocation ``key``) the deletion of every external IP
    assigned to ``key`` and of its index, guarding the index as read."""
    index = keys.external_by_key(key)
    kv = store.get(index)
    w.guard(index, kv)
    if kv is None:
        return
    w.ops.extend(Delete(keys.external_ip(address_of(a))) for a in txn.loads(kv))
    w.ops.append(Delete(index))


class ExternalService:
    def __init__(self, store: Store, tenants: TenantService, topology: TopologyService) -> None:
        self._store = store
        self._tenants = tenants
        self._topology = topology

    @property
    def topology(self) -> TopologyService:
        return self._topology

    # -- pools ---------------------------------------------------------------------------

    def get(self, name: str) -> ExternalPool:
        kv = self._store.get(keys.external_pool(name))
        if kv is None:
            raise NotFound(no_pool(name))
        return ExternalPool.from_dict(txn.loads(kv))

    def list(self) -> list[ExternalPool]:
        """Every pool, by name."""
        items = self._store.range(keys.EXTERNAL_POOLS).items
        return [ExternalPool.from_dict(raw) for raw in txn.loads_all(items)]

    def create(self, pool: ExternalPool) -> ExternalPool:
        """Store ``pool``; the same content again writes nothing, other content is
        AlreadyExists naming each field that differs (a pool is never changed in place)."""
        external.check_pool(pool, {}, ())
        key = keys.external_pool(pool.name)

        def attempt(w: txn.Writes) -> ExternalPool:
            kv = self._store.get(key)
            if kv is not None:
                return same_pool(ExternalPool.from_dict(txn.loads(kv)), pool)
            view = self._topology.view()
            found = self._store.range(keys.EXTERNAL_POOLS)
            others = [ExternalPool.from_dict(raw) for raw in txn.loads_all(found.items)]
            networks = {name: lay.cidr for name, lay in view.layouts.items()}
            issues = external.pool_issues(pool, networks, others)
            if pool.group is not None and not has_group(view.topology, pool.group):
                issues.add("group", f"no topology group is named {pool.group!r}")
            if pool.network is not None and pool.network not in view.layouts:
                known = ", ".join(sorted(view.layouts)) or "none"
                issues.add("network", f"no romana network {pool.network!r} (networks: {known})")
            issues.raise_if_any()
            w.guard(key, None)
            w.guard(keys.TOPOLOGY, view.kv)
            w.guard_range(keys.EXTERNAL_POOLS, found.revision)
            w.ops.append(Put(key, txn.dumps(pool.to_dict())))
            return pool

        return txn.run(self._store, attempt, what=f"create external pool {pool.name!r}")

    def delete(self, name: str) -> ExternalPool:
        """Delete pool ``name``; the deleted pool. NotFound when there is none, Conflict
        while any of its addresses is assigned."""
        key = keys.external_pool(name)

        def attempt(w: txn.Writes) -> ExternalPool:
            kv = self._store.get(key)
            if kv is None:
                raise NotFound(no_pool(name))
            found = self._store.range(keys.EXTERNAL_IPS)
            held = [ip for ip in assigned_ips(found.items) if ip.pool == name]
            if held:
                first = held[0]
                raise Conflict(
                    f"external pool {name!r} has {len(held)} assigned "
                    f"{'address' if len(held) == 1 else 'addresses'}, e.g. {first.address} "
                    f"({_owner(first)}); {_freeing(held)} first"
                )
            w.guard(key, kv)
            w.guard_range(keys.EXTERNAL_IPS, found.revision)
            w.ops.append(Delete(key))
            return ExternalPool.from_dict(txn.loads(kv))

        return txn.run(self._store, attempt, what=f"delete external pool {name!r}")

    # -- external IPs --------------------------------------------------------------------

    def ip(self, address: IPAddress) -> ExternalIp:
        kv = self._store.get(keys.external_ip(address))
        if kv is None:
            raise NotFound(not_assigned(address))
        return ExternalIp.from_dict(txn.loads(kv))

    def ips(
        self,
        pool: str | None = None,
        key: AllocationKey | None = None,
        tenant: TenantName | None = None,
    ) -> builtins.list[ExternalIp]:
        """Assigned external IPs, IPv4 before IPv6, lowest first; only of ``pool``, of the
        allocation ``key`` and of ``tenant`` when named."""
        found = assigned_ips(self._store.range(keys.EXTERNAL_IPS).items)
        return [
            ip
            for ip in found
            if (pool is None or ip.pool == pool)
            and (key is None or ip.key == key)
            and (tenant is None or ip.tenant == tenant)
        ]

    def endpoint(self, endpoint: str) -> ipam.Allocation:
        """The allocation ``endpoint`` names: its key, or one of its romana addresses
        (a text that parses as an IP address is taken as one). NotFound when none holds it;
        InvalidInput at ``endpoint`` for a text that is neither."""
        return endpoint_allocation(self._store, self._topology, endpoint)[1]

    def assign(
        self,
        pool: str,
        endpoint: str,
        address: IPAddress | None = None,
        *,
        tenant: TenantName | None = None,
    ) -> ExternalIp:
        """Assign an external IP of ``pool`` to the allocation ``endpoint`` names (see
        :meth:`assign_reporting`)."""
        return self.assign_reporting(pool, endpoint, address, tenant=tenant)[0]

    def assign_reporting(
        self,
        pool: str,
        endpoint: str,
        address: IPAddress | None = None,
        *,
        tenant: TenantName | None = None,
    ) -> tuple[ExternalIp, bool]:
        """The external IP assigned, and whether this call assigned it.

        ``address`` given: that address, which must be a usable address of the pool and free
        (AlreadyExists naming the allocation holding it). Not given: the lowest free address
        of the first family (IPv4 first) the endpoint has a romana address of and the pool a
        CIDR of; Exhausted when none is free. The endpoint holds at most one external IP per
        family; asking again for what it holds (the same address, or no address and the
        pool whose address it holds in that family) answers that and writes nothing.
        ``tenant``: the tenant the caller was authorised for; an allocation of another
        tenant is NotFound, as a missing one.
        """

        def attempt(w: txn.Writes) -> tuple[ExternalIp, bool]:
            akv, alloc = endpoint_allocation(self._store, self._topology, endpoint)
            if tenant is not None and alloc.tenant != tenant:
                raise NotFound(f"no allocation {endpoint!r}")
            pkv = self._store.get(keys.external_pool(pool))
            if pkv is None:
                raise NotFound(no_pool(pool))
            chosen = ExternalPool.from_dict(txn.loads(pkv))
            index = keys.external_by_key(alloc.key)
            ikv = self._store.get(index)
            held = [address_of(a) for a in (txn.loads(ikv) if ikv else ())]
            if address is not None:
                externaladdress.check_address(chosen, address, alloc.key, alloc.addresses)
                wanted = address
            else:
                family = externaladdress.family_for(chosen, alloc.key, alloc.addresses)
                mine = next((a for a in held if a.version == family), None)
                if mine is not None and chosen.holding(mine) is not None:
                    return self._held(mine), False
                externaladdress.check_one_per_family(alloc.key, None, held, family)
                wanted = free_address(self._store, chosen, family)
            if wanted in held:
                return self._held(wanted), False
            externaladdress.check_one_per_family(alloc.key, wanted, held, wanted.version)
            refuse_taken(self._store, wanted, picked=address is None)
            self._check_host(chosen, alloc)
            assigned = ExternalIp(wanted, chosen.name, alloc.key, alloc.tenant)
            addresses = sorted([*held, wanted], key=lambda a: (a.version, int(a)))
            w.guard(keys.alloc_key(alloc.key), akv)
            w.guard(keys.external_pool(pool), pkv)
            w.guard(keys.external_ip(wanted), None)
            w.guard(index, ikv)
            w.ops.append(Put(keys.external_ip(wanted), txn.dumps(assigned.to_dict())))
            w.ops.append(Put(index, txn.dumps([str(a) for a in addresses])))
            return assigned, True

        return txn.run(self._store, attempt, what=f"assign an external IP of pool {pool!r}")

    def unassign(self, address: IPAddress, *, tenant: TenantName | None = None) -> ExternalIp:
        """Unassign external IP ``address``; the assignment it was. NotFound when it is not
        assigned (or, with ``tenant``, assigned to another tenant's endpoint)."""

        def attempt(w: txn.Writes) -> ExternalIp:
            key = keys.external_ip(address)
            kv = self._store.get(key)
            if kv is None:
                raise NotFound(not_assigned(address))
            assigned = ExternalIp.from_dict(txn.loads(kv))
            if tenant is not None and assigned.tenant != tenant:
                raise NotFound(not_assigned(address))
            if assigned.vip is not None:
                raise InvalidInput(
                    [
                        Issue(
                            "address",
                            f"{address} is the address of VIP {assigned.vip!r}, not an "
                            "endpoint's: delete the VIP instead",
                        )
                    ]
                )
            index = keys.external_by_key(assigned.key)
            ikv = self._store.get(index)
            left = [a for a in (txn.loads(ikv) if ikv else ()) if address_of(a) != address]
            w.guard(key, kv)
            w.guard(index, ikv)
            w.ops.append(Delete(key))
            w.ops.append(Put(index, txn.dumps(left)) if left else Delete(index))
            return assigned

        return txn.run(self._store, attempt, what=f"unassign external IP {address}")

    # -- egress NAT ----------------------------------------------------------------------

    def nat(self, network: NetworkName) -> EgressNat:
        """The network's setting, the default when none is stored; NotFound for a network
        the topology lacks."""
        if network not in self._topology.view().layouts:
            raise NotFound(f"network {network!r} does not exist")
        kv = self._store.get(keys.external_nat(network))
        return external.default_nat(network) if kv is None else EgressNat.from_dict(txn.loads(kv))

    def nats(self) -> builtins.list[EgressNat]:
        """One setting per network of the topology, in its order, stored or the default."""
        stored = {
            s.network: s
            for s in (
                EgressNat.from_dict(raw)
                for raw in txn.loads_all(self._store.range(keys.EXTERNAL_NAT).items)
            )
        }
        return [
            stored.get(n.name) or external.default_nat(n.name)
            for n in self._topology.view().topology.networks
        ]

    def set_nat(self, setting: EgressNat) -> EgressNat:
        """Store the network's setting; NotFound for an unknown network, InvalidInput at
        ``tenants[i]`` for each tenant that does not exist."""
        external.check_nat(setting)
        key = keys.external_nat(setting.network)

        def attempt(w: txn.Writes) -> EgressNat:
            view = self._topology.view()
            if setting.network not in view.layouts:
                raise NotFound(f"network {setting.network!r} does not exist")
            missing: builtins.list[Issue] = []
            for i, name in enumerate(setting.tenants):
                tkv = self._store.get(keys.tenant(name))
                if tkv is None:
                    missing.append(Issue(f"tenants[{i}]", f"tenant {name!r} does not exist"))
                w.guard(keys.tenant(name), tkv)
            if missing:
                raise InvalidInput(missing)
            kv = self._store.get(key)
            w.guard(keys.TOPOLOGY, view.kv)
            w.guard(key, kv)
            if kv is None or EgressNat.from_dict(txn.loads(kv)) != setting:
                w.ops.append(Put(key, txn.dumps(setting.to_dict())))
            return setting

        return txn.run(self._store, attempt, what=f"set egress NAT of {setting.network!r}")

    # -- helpers -------------------------------------------------------------------------

    def _held(self, address: IPAddress) -> ExternalIp:
        """The assignment of an address the index read lists; unassigned since that read
        (index and assignment change together), the attempt starts over."""
        kv = self._store.get(keys.external_ip(address))
        if kv is None:
            raise txn.Retry
        return ExternalIp.from_dict(txn.loads(kv))

    def _check_host(self, pool: ExternalPool, alloc: ipam.Allocation) -> None:
        """InvalidInput at ``endpoint`` unless the pool serves the endpoint: its host in the
        pool's group, one of its addresses in the pool's network (when the pool has them)."""
        view = self._topology.view()
        lay = None if pool.network is None else view.layouts.get(pool.network)
        if pool.network is not None and (
            lay is None
            or not any(a.version == lay.version and a in lay.cidr for a in alloc.addresses)
        ):
            raise InvalidInput(
                [
                    Issue(
                        "endpoint",
                        f"endpoint {alloc.key!r} has no address in network {pool.network!r}, "
                        f"the only endpoints external pool {pool.name!r} serves",
                    )
                ]
            )
        if pool.group is None:
            return
        if not in_group(view.topology, alloc.host, pool.group):
            raise InvalidInput(
                [
                    Issue(
                        "endpoint",
                        f"endpoint {alloc.key!r} lives on host {alloc.host!r}, which is not in "
                        f"group {pool.group!r}, the only hosts external pool {pool.name!r} "
                        "serves",
                    )
                ]
            )


def _freeing(held: Iterable[ExternalIp]) -> str:
    vips = any(ip.vip is not None for ip in held)
    keys_ = any(ip.vip is None for ip in held)
    return " and ".join(
        [*(["unassign its external IPs"] if keys_ else []), *(["delete its VIPs"] if vips else [])]
    )


def _owner(ip: ExternalIp) -> str:
    return f"VIP {ip.vip!r}" if ip.vip is not None else f"allocation {ip.key!r}"
