"""What the web view's pages show, computed from the REST API's answers: pure functions.

Nothing here reads the store or knows the web framework; each function takes answers of
:class:`romana.api.ui.reads.Reads` (the REST routes' JSON shapes) and returns frozen values the
pages render.

* :func:`fields`: a network's address split into its fields, most significant first, with
  their widths in bits, which sum to the address length (the plan is drawn to that scale).
* :func:`usage`: per host and per tenant, in each network, the endpoint addresses used out of
  those its ranges hold, nearest exhaustion (the highest share used) first. A range is one
  (host, tenant, segment) block of a network; it holds ``2**endpoint_bits - 2`` endpoint
  addresses (ordinal 0 and the all-ones ordinal are never handed out). A host holds one
  range per segment of every tenant with an id in the network; a tenant one per segment on
  every host in the network. An address counts for the host whose prefix holds it (the
  range it was taken from) and for the tenant of its allocation.
* :func:`evaluation_order`: policies as the hosts evaluate them, tier by tier, with the
  isolation of ``romana``-mode tenants as the Baseline tier's first entries — the order of
  ``romana policy list`` (:mod:`romana.core.policy.listing`).
* :func:`selected`: which endpoints a reachability matrix has, by tenant, segment, namespace
  and host.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from romana.core.policy import listing

JSON = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    bits: int
    offset: int
    """Bits before this field, from the most significant."""


def fields(network: JSON) -> tuple[Field, ...]:
    """The fields of ``network``'s addresses (a ``GET /v1/networks`` item), in order."""
    cidr = ipaddress.ip_network(network["cidr"])
    widths = (
        ("network prefix", cidr.prefixlen),
        ("host", int(network["topology_bits"])),
        ("tenant", int(network["tenant_bits"])),
        ("segment", int(network["segment_bits"])),
        ("endpoint", int(network["endpoint_bits"])),
    )
    out: list[Field] = []
    offset = 0
    for name, bits in widths:
        out.append(Field(name, bits, offset))
        offset += bits
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Use:
    """How full one host's or tenant's ranges of one network are."""

    name: str
    network: str
    used: int
    capacity: int

    @property
    def share(self) -> float:
        return self.used / self.capacity if self.capacity else 1.0


def endpoints_per_range(network: JSON) -> int:
    return max(0, (1 << int(network["endpoint_bits"])) - 2)


def _network_of(networks: Sequence[JSON], address: str) -> str | None:
    addr = ipaddress.ip_interface(address).ip
    for net in networks:
        cidr = ipaddress.ip_network(net["cidr"])
        if addr.version == cidr.version and addr in cidr:
            return str(net["name"])
    return None


def _holder(hosts: Sequence[JSON], network: str, address: str) -> str | None:
    addr = ipaddress.ip_interface(address).ip
    for host in hosts:
        prefix = (host.get("prefixes") or {}).get(network)
        if prefix is not None:
            block = ipaddress.ip_network(prefix)
            if addr.version == block.version and addr in block:
                return str(host["name"])
    return None


def usage(
    networks: Sequence[JSON],
    hosts: Sequence[JSON],
    tenants: Sequence[JSON],
    allocations: Sequence[JSON],
) -> tuple[tuple[Use, ...], tuple[Use, ...]]:
    """(per host, per tenant) use of every network, nearest exhaustion first."""
    by_host: dict[tuple[str, str], int] = {}
    by_tenant: dict[tuple[str, str], int] = {}
    for alloc in allocations:
        for address in alloc["addresses"]:
            held_in = _network_of(networks, address)
            if held_in is None:
                continue
            holder = _holder(hosts, held_in, address)
            if holder is not None:
                by_host[holder, held_in] = by_host.get((holder, held_in), 0) + 1
            key = (str(alloc["tenant"]), held_in)
            by_tenant[key] = by_tenant.get(key, 0) + 1
    host_rows: list[Use] = []
    tenant_rows: list[Use] = []
    for net in networks:
        name = str(net["name"])
        per_range = endpoints_per_range(net)
        inside = [h for h in hosts if name in (h.get("prefixes") or {})]
        holding = [t for t in tenants if name in (t.get("ids") or {})]
        ranges_per_host = sum(len(t.get("segments") or {}) for t in holding)
        for h in inside:
            used = by_host.get((str(h["name"]), name), 0)
            host_rows.append(Use(str(h["name"]), name, used, ranges_per_host * per_range))
        for t in holding:
            capacity = len(inside) * len(t.get("segments") or {}) * per_range
            used = by_tenant.get((str(t["name"]), name), 0)
            tenant_rows.append(Use(str(t["name"]), name, used, capacity))
    return _fullest(host_rows), _fullest(tenant_rows)


def _fullest(rows: list[Use]) -> tuple[Use, ...]:
    return tuple(sorted(rows, key=lambda u: (-u.share, -u.used, u.name, u.network)))


def policy_id(item: JSON) -> str:
    return str(item.get("id") or item.get("name") or "")


def evaluation_order(policies: Sequence[JSON], tenants: Sequence[JSON] = ()) -> tuple[JSON, ...]:
    """``policies`` (and the isolation of ``tenants``) in evaluation order: the Admin tier,
    ordinary policies, the Baseline tier; as ``romana policy list`` lists them."""
    return tuple(listing.ordered(policies, tenants))


def target_text(target: JSON) -> str:
    """One ``applied_to`` or peer item in words: ``tenant blue, segment db``."""
    order = {"tenant": 0, "segment": 1}
    keys = sorted(target, key=lambda k: (order.get(k, 2), k))
    return ", ".join(f"{key.replace('_', ' ')} {target[key]}" for key in keys)


def selects(target: JSON, allocations: Sequence[JSON]) -> int | None:
    """How many of ``allocations`` a tenant or segment target selects now; None for other
    kinds of target (local, address set, host), which select by address, not by tenant."""
    if set(target) - {"tenant", "segment"} or "tenant" not in target:
        return None
    return sum(
        1
        for a in allocations
        if a["tenant"] == target["tenant"]
        and ("segment" not in target or a["segment"] == target["segment"])
    )


@dataclass(frozen=True, slots=True)
class Choice:
    """The reachability matrix's filters; empty means any."""

    tenant: str = ""
    segment: str = ""
    namespace: str = ""
    host: str = ""


@dataclass(frozen=True, slots=True)
class Picked:
    """One endpoint of the matrix: named by its address, as ``romana explain`` takes it."""

    address: str
    label: str


def selected(
    choice: Choice,
    allocations: Sequence[JSON],
    pods: Sequence[tuple[str, Sequence[str]]],
    limit: int,
) -> tuple[tuple[Picked, ...], int]:
    """The allocations ``choice`` picks, IPv4 address first, at most ``limit`` of them, with
    how many it picks in all. A namespace picks the allocations of its pods' addresses
    (``pods``: each pod's namespace and addresses)."""
    in_namespace: set[str] = set()
    for namespace, ips in pods:
        if namespace == choice.namespace:
            in_namespace.update(str(ip) for ip in ips)
    picked: list[Picked] = []
    for alloc in sorted(allocations, key=lambda a: (a["tenant"], a["segment"], a["key"])):
        addresses = sorted(
            (ipaddress.ip_interface(x).ip for x in alloc["addresses"]),
            key=lambda a: (a.version, int(a)),
        )
        if not addresses:
            continue
        if choice.tenant and alloc["tenant"] != choice.tenant:
            continue
        if choice.segment and alloc["segment"] != choice.segment:
            continue
        if choice.host and alloc["host"] != choice.host:
            continue
        if choice.namespace and not in_namespace & {str(a) for a in addresses}:
            continue
        label = f"{alloc['key']} ({alloc['tenant']}/{alloc['segment']} on {alloc['host']})"
        picked.append(Picked(str(addresses[0]), label))
    return tuple(picked[:limit]), len(picked)
