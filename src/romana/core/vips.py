"""VIPs: an external address in front of a set of endpoints, held by one host at a time.

A :class:`Vip` is an address of an external pool (:mod:`romana.core.external`) bound to
endpoints (IPAM allocations, by key). One host *holds* it: that host answers for the
address (a local address of its gateway interface in ``direct`` route mode, so its
underlay answers ARP and neighbour discovery; a BGP announcement in ``bgp`` mode), and
forwards each new flow to one of the endpoints (DNAT, a random pick per flow that conntrack
keeps). Which host holds it is a :class:`Lease` in the store, granted by romanad:

* a host may hold a VIP only while one of its endpoints is ready on it (an allocation of
  the VIP lives there), so a VIP moves away from a host that has none left;
* a lease lasts ``ttl`` seconds of romanad's clock from the grant or the last renewal; the
  holder renews it well before; another host is granted it only once it expired;
* the holder's kernel state (the address, with a valid lifetime; the DNAT match, an element
  with a timeout) expires by itself *before* the lease does, measured from when the holder
  asked: a holder cut off from romanad (agent killed, host partitioned) stops answering
  before anyone else may start, so two hosts never hold a VIP at once.

Pure: :func:`grant` decides a lease request from the stored lease, the time and the
candidates; :func:`kernel_ttl` says how long the holder may keep its kernel state.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from romana.core import names, records
from romana.core.errors import Issues
from romana.core.identifiers import AllocationKey, HostName

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_TTL = 1.6
"""Seconds a lease lasts (romanad's ``--vip-lease-ttl``). A failover takes at most this plus
one request interval of the contenders. The holder's kernel state lives whole seconds (the
kernel's address lifetimes), at least one: a lease shorter than about 1.5 s leaves no whole
second to hold it after the margins below."""
MIN_TTL, MAX_TTL = 1.6, 60.0
RENEW_FRACTION = 4
"""A holder renews every ``ttl / RENEW_FRACTION`` seconds; a contender asks as often."""
SAFETY = 0.15
"""Seconds the holder's kernel state ends before the lease could, at the least, for the
time its request took to reach romanad (clocks tick alike; they need not agree)."""
KERNEL_LATE = 0.3
"""Seconds the kernel may remove an expired address late: it checks lifetimes on a timer
rounded up by up to a quarter second."""
MAX_ENDPOINTS = 256
NAME_RULE = "must be 1-63 of a-z, 0-9 and '-', starting and ending with a letter or digit"
NAME_PATTERN = names.register(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", NAME_RULE)
_NAME = re.compile(NAME_PATTERN)


@dataclass(frozen=True, slots=True)
class Vip:
    """VIP ``name``: ``address`` of pool ``pool``, in front of the allocations ``endpoints``."""

    name: str
    address: IPAddress
    pool: str
    endpoints: tuple[AllocationKey, ...]

    def to_dict(self) -> dict[str, Any]:
        return records.fields_dict(self, {"address": str, "endpoints": list})

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Vip:
        return cls(
            str(raw["name"]),
            ipaddress.ip_address(str(raw["address"])),
            str(raw["pool"]),
            tuple(AllocationKey(str(k)) for k in raw.get("endpoints", ())),
        )


@dataclass(frozen=True, slots=True)
class Lease:
    """Host ``host`` holds VIP ``vip`` until ``expires`` (romanad's clock, seconds since the
    epoch); ``term`` grows by one each time another host is granted it."""

    vip: str
    host: HostName
    expires: float
    term: int

    def to_dict(self) -> dict[str, Any]:
        return records.fields_dict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Lease:
        return cls(
            str(raw["vip"]), HostName(str(raw["host"])), float(raw["expires"]), int(raw["term"])
        )

    def valid(self, now: float) -> bool:
        return now < self.expires


def check(vip: Vip) -> None:
    """InvalidInput naming every field of ``vip`` that breaks its rule."""
    issues = Issues("vip")
    if not names.matches(_NAME, vip.name):
        issues.add("name", NAME_RULE)
    if len(vip.endpoints) > MAX_ENDPOINTS:
        issues.add("endpoints", f"must hold at most {MAX_ENDPOINTS} endpoints")
    if len(set(vip.endpoints)) != len(vip.endpoints):
        issues.add("endpoints", "must not repeat an endpoint")
    for i, key in enumerate(vip.endpoints):
        if not key:
            issues.add(f"endpoints[{i}]", "must not be empty")
    issues.raise_if_any()


@dataclass(frozen=True, slots=True)
class Grant:
    """The answer to a lease request: the lease now stored (None: nobody holds the VIP),
    whether it is the asker's, and, when it changed, the lease to write."""

    lease: Lease | None
    held: bool
    write: Lease | None


def grant(
    vip: str,
    current: Lease | None,
    host: HostName,
    *,
    now: float,
    ttl: float,
    eligible: Collection[HostName],
    release: bool = False,
) -> Grant:
    """Decide ``host``'s request for VIP ``vip`` at romanad's time ``now``.

    The holder renews (``expires`` moves to ``now + ttl``) while it is ``eligible`` (one of
    the VIP's endpoints lives on it); anyone eligible takes a lease that expired or whose
    holder is no longer eligible; a valid lease of another eligible host is never taken.
    ``release``: the holder gives it up (it expires now, the term kept)."""
    mine = current is not None and current.host == host
    if release:
        if mine and current is not None and current.valid(now):
            ended = Lease(vip, host, now, current.term)
            return Grant(ended, False, ended)
        return Grant(current, False, None)
    if host not in eligible:
        return Grant(current, False, None)
    if current is not None and current.valid(now) and not mine and current.host in eligible:
        return Grant(current, False, None)
    if mine and current is not None and current.valid(now):
        renewed = Lease(vip, host, now + ttl, current.term)
        return Grant(renewed, True, renewed)
    term = 1 if current is None else current.term + (0 if mine else 1)
    taken = Lease(vip, host, now + ttl, term)
    return Grant(taken, True, taken)


def kernel_ttl(ttl: float, asked: float, answered: float) -> float:
    """How long, from ``answered`` (the holder's clock), the holder may keep its kernel
    state after a grant of ``ttl`` seconds to a request it sent at ``asked``: the lease began
    no earlier than ``asked``, so it ends no earlier than ``asked + ttl``; less the safety
    margin and the kernel's lateness. Never negative."""
    return max(0.0, asked + ttl - SAFETY - KERNEL_LATE - answered)
