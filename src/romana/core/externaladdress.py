"""Which address of an external pool may be assigned, which is free, and to whom it may go.

An external IP (:mod:`romana.core.external`) is an address of a pool that :func:`usable`
allows; an endpoint holds at most one per IP family, of a family it has a romana address of.
These are the rules the services apply when they assign an external IP or a VIP's address.

Invariants:

* :func:`usable` is the one rule of which pool addresses may be assigned: neither the network
  nor the broadcast address of an IPv4 CIDR shorter than /31, nor the subnet-router anycast
  address (the all-zero host part) of an IPv6 CIDR shorter than /127 (RFC 6164 gives
  point-to-point /31 and /127 prefixes both their addresses).
* :func:`pick_address` gives the lowest usable address not used, CIDR by CIDR in address
  order: the same pool and the same used addresses give the same address.
* A refusal is InvalidInput at the field it is about (``address`` or ``pool``), naming the
  pool, the endpoint and the addresses involved.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Sequence

from romana.core.addressing import IPAddress, IPNetwork
from romana.core.errors import InvalidInput, Issue
from romana.core.external import ExternalPool

FAMILIES = (4, 6)
"""The order in which an assignment without an address tries the endpoint's families."""


def _bounds(cidr: IPNetwork) -> tuple[int, int]:
    """The first and last assignable address of ``cidr``, as integers (see :func:`usable`)."""
    first, last = int(cidr.network_address), int(cidr.broadcast_address)
    if cidr.version == 4 and cidr.prefixlen < 31:
        return first + 1, last - 1
    if cidr.version == 6 and cidr.prefixlen < 127:
        return first + 1, last
    return first, last


def usable(cidr: IPNetwork, address: IPAddress) -> bool:
    """Whether ``address`` of ``cidr`` may be assigned (the module docstring's rule)."""
    first, last = _bounds(cidr)
    return address.version == cidr.version and first <= int(address) <= last


def reserved_rule(cidr: IPNetwork) -> str:
    """What an unusable address of ``cidr`` is, in a refusal."""
    if cidr.version == 4:
        return f"the network or broadcast address of {cidr}"
    return f"the subnet-router anycast address of {cidr}"


def pick_address(pool: ExternalPool, version: int, used: Collection[IPAddress]) -> IPAddress | None:
    """The lowest address of the pool's CIDRs of IP ``version`` that :func:`usable` allows
    and ``used`` lacks; None when every one is taken. Costs one step per used address."""
    taken = {int(a) for a in used if a.version == version}
    for cidr in pool.of_version(version):
        candidate, last = _bounds(cidr)
        while candidate <= last and candidate in taken:
            candidate += 1
        if candidate <= last:
            return (
                ipaddress.IPv4Address(candidate)
                if version == 4
                else ipaddress.IPv6Address(candidate)
            )
    return None


def _refused(field: str, rule: str) -> InvalidInput:
    return InvalidInput([Issue(field, rule)])


def check_in_pool(pool: ExternalPool, address: IPAddress) -> None:
    """InvalidInput at ``address`` unless ``address`` is a :func:`usable` address of ``pool``."""
    cidr = pool.holding(address)
    if cidr is None:
        cidrs = ", ".join(str(c) for c in pool.cidrs)
        raise _refused(
            "address", f"{address} is in no CIDR of external pool {pool.name!r} ({cidrs})"
        )
    if not usable(cidr, address):
        raise _refused("address", f"{address} is {reserved_rule(cidr)}, never assigned")


def check_address(
    pool: ExternalPool, address: IPAddress, key: str, romana: Sequence[IPAddress]
) -> None:
    """InvalidInput at ``address`` unless ``address`` is a :func:`usable` address of
    ``pool`` of a family the endpoint ``key`` has a ``romana`` address of."""
    check_in_pool(pool, address)
    if not any(a.version == address.version for a in romana):
        held = ", ".join(str(a) for a in romana)
        raise _refused(
            "address",
            f"endpoint {key!r} has no romana IPv{address.version} address (it has {held})",
        )


def family_for(pool: ExternalPool, key: str, romana: Sequence[IPAddress]) -> int:
    """The first of :data:`FAMILIES` that the endpoint ``key`` has a ``romana`` address of
    and ``pool`` a CIDR of; InvalidInput at ``pool`` when they share none."""
    return shared_family(pool, {a.version for a in romana}, f"endpoint {key!r} has")


def shared_family(pool: ExternalPool, ours: Collection[int], whose: str) -> int:
    """The first of :data:`FAMILIES` in ``ours`` (the IP versions of the romana addresses
    ``whose`` names, e.g. ``endpoint 'k' has``) that ``pool`` has a CIDR of; InvalidInput at
    ``pool`` when they share none."""
    theirs = {c.version for c in pool.cidrs}
    for family in FAMILIES:
        if family in ours and family in theirs:
            return family
    pool_families = "/".join(f"IPv{v}" for v in sorted(theirs))
    our_families = "/".join(f"IPv{v}" for v in sorted(ours))
    raise _refused(
        "pool",
        f"external pool {pool.name!r} has {pool_families} CIDRs only and {whose} "
        f"romana {our_families} addresses only",
    )


def check_one_per_family(
    key: str, wanted: IPAddress | None, held: Sequence[IPAddress], family: int
) -> None:
    """InvalidInput at ``address`` when the endpoint ``key``, holding the external IPs
    ``held``, holds one of ``family`` other than ``wanted``."""
    other = next((a for a in held if a.version == family and a != wanted), None)
    if other is not None:
        raise _refused(
            "address",
            f"endpoint {key!r} holds external IPv{family} address {other} already (one per "
            "family); unassign it first",
        )
