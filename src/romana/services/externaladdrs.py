"""What external pools, external IPs and VIPs share: finding a free address, refusing a taken
one or a pool that exists otherwise, naming a holder, reading the allocation an endpoint names
and the topology group a pool serves.

An external address is held by an endpoint (:class:`romana.services.external.ExternalService`)
or by a VIP (:class:`romana.services.vips.VipService`), both under the key
``external/ips/<address>`` (:mod:`romana.services.keys`); the functions here read that range,
the allocations and the topology, and write nothing.

Invariants:

* :func:`free_address` picks an address free of external IPs and VIPs alike: the two never
  share one.
* :func:`refuse_taken` asks the transaction to start over (:class:`romana.services.txn.Retry`)
  when an address it picked as free was taken since, and refuses an address the caller named
  with AlreadyExists naming its holder.
* Every refusal names the pool, the address or the holder it is about.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from romana.core import external, externaladdress, ipam
from romana.core.addressing import IPAddress
from romana.core.errors import AlreadyExists, Exhausted, InvalidInput, NotFound
from romana.core.external import ExternalIp, ExternalPool
from romana.core.identifiers import AllocationKey, HostName
from romana.core.store import KeyValue, Store
from romana.core.topology import Topology
from romana.services import keys, txn
from romana.services.topology import TopologyService


def no_pool(name: str) -> str:
    return f"external pool {name!r} does not exist"


def not_assigned(address: IPAddress) -> str:
    return f"external IP {address} is not assigned"


def holder(ip: ExternalIp) -> str:
    """Who holds an external address, in a refusal: the allocation, or the VIP."""
    return f"VIP {ip.vip!r}" if ip.vip is not None else f"endpoint {ip.key!r}"


def free_address(store: Store, pool: ExternalPool, family: int) -> IPAddress:
    """The lowest free IPv``family`` address of ``pool`` (:func:`externaladdress.pick_address`),
    free of external IPs and VIPs alike; Exhausted when none is."""
    used = [ip.address for ip in assigned_ips(store.range(keys.EXTERNAL_IPS).items)]
    picked = externaladdress.pick_address(pool, family, used)
    if picked is None:
        cidrs = ", ".join(str(c) for c in pool.of_version(family))
        raise Exhausted(
            f"external pool {pool.name!r} has no free IPv{family} address (its IPv{family} "
            f"CIDRs: {cidrs})"
        )
    return picked


def refuse_taken(store: Store, address: IPAddress, *, picked: bool) -> None:
    """AlreadyExists naming who holds ``address`` (:func:`holder`); when this attempt
    ``picked`` it as free, another assignment took it since: pick again."""
    kv = store.get(keys.external_ip(address))
    if kv is None:
        return
    if picked:
        raise txn.Retry
    taken = ExternalIp.from_dict(txn.loads(kv))
    raise AlreadyExists(f"external IP {address} is assigned already, to {holder(taken)}")


def address_of(text: object) -> IPAddress:
    return ipaddress.ip_address(str(text))


def in_group(topology: Topology, host: HostName, group: str) -> bool:
    """Whether ``host`` sits under a group named ``group`` (its name or its path) in any
    tree of ``topology``."""
    for tree in topology.trees:
        chain = tree.chain(host)
        if chain is not None and any(group in (g.name, g.path) for g in chain):
            return True
    return False


def has_group(topology: Topology, group: str) -> bool:
    return any(group in (g.name, g.path) for tree in topology.trees for g in tree.groups())


def assigned_ips(items: Iterable[KeyValue]) -> list[ExternalIp]:
    found = [ExternalIp.from_dict(raw) for raw in txn.loads_all(list(items))]
    return sorted(found, key=lambda ip: (ip.address.version, int(ip.address)))


def endpoint_allocation(
    store: Store, topology: TopologyService, endpoint: str
) -> tuple[KeyValue, ipam.Allocation]:
    """The allocation ``endpoint`` names and its key-value: its key, or one of its romana
    addresses (a text that parses as an IP address is taken as one). NotFound when none
    holds it; InvalidInput at ``endpoint`` for a text that is neither."""
    try:
        romana = ipaddress.ip_address(endpoint)
    except ValueError:
        key = ipam.check_key(endpoint, "endpoint")
    else:
        layouts = topology.view().layouts
        try:
            slot, ordinal = ipam.slot_of(layouts, romana)
        except InvalidInput:
            raise NotFound(f"address {romana} is in no romana network") from None
        held = store.get(keys.addr(slot.network, slot.host, slot.tenant, slot.segment, ordinal))
        if held is None:
            raise NotFound(f"address {romana} is not allocated")
        key = AllocationKey(held.value.decode())
    kv = store.get(keys.alloc_key(key))
    if kv is None:
        raise NotFound(f"no allocation {endpoint!r}")
    return kv, ipam.Allocation.from_dict(txn.loads(kv))


def same_pool(stored: ExternalPool, wanted: ExternalPool) -> ExternalPool:
    """``stored`` when ``wanted`` is the same pool; AlreadyExists naming what differs."""
    differing = external.differing(stored, wanted)
    if not differing:
        return stored
    what = ", ".join(
        f"{f} {_text(getattr(stored, f))} (not {_text(getattr(wanted, f))})" for f in differing
    )
    raise AlreadyExists(
        f"external pool {stored.name!r} exists already, with {what}; a pool is never changed: "
        "delete it and create it again"
    )


def _text(value: object) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return repr(value)
