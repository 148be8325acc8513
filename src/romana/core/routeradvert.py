"""ICMPv6 router advertisements and solicitations (RFC 4861 4.1, 4.2): no I/O.

The agent advertises itself as the router on each VM's tap (:mod:`romana.agent.dhcp6`). What
an advertisement tells a VM is fixed by how romana addresses VMs:

* the Managed flag: the VM's address comes from DHCPv6 (the romana IPAM chose it);
* a router lifetime, so the VM takes a default route via the sender, the host's link-local
  address on the tap;
* the MTU option when the MTU is known, and the source link-layer address option, which
  spares the VM a neighbour solicitation for its router;
* no prefix information: no prefix is on-link (the VM's neighbour is the host alone) and
  none is for stateless autoconfiguration (SLAAC would choose an address romana did not).

The checksum is left 0: the kernel computes it for ICMPv6 raw sockets (RFC 3542 3.1).
:func:`decode` reads an advertisement back and refuses (:class:`Malformed`) anything else.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

ROUTER_SOLICITATION, ROUTER_ADVERTISEMENT = 133, 134
MANAGED, OTHER = 0x80, 0x40
OPT_SOURCE_LLADDR, OPT_PREFIX, OPT_MTU = 1, 3, 5

_HEAD = struct.Struct("!BBHBBHII")


class Malformed(ValueError):
    """The bytes are not a router advertisement this module reads."""


@dataclass(frozen=True, slots=True)
class Advertisement:
    lifetime: int
    """Router lifetime in seconds (at most 9000); 0 says "not a default router"."""
    mtu: int | None = None
    source_mac: bytes | None = None
    managed: bool = True
    other: bool = False
    hop_limit: int = 64
    prefixes: int = 0
    """How many prefix information options it carried (always 0 in ours)."""


def encode(ad: Advertisement) -> bytes:
    """The ICMPv6 message of ``ad``, checksum 0."""
    flags = (MANAGED if ad.managed else 0) | (OTHER if ad.other else 0)
    body = bytearray(_HEAD.pack(ROUTER_ADVERTISEMENT, 0, 0, ad.hop_limit, flags, ad.lifetime, 0, 0))
    if ad.source_mac is not None:
        body += bytes((OPT_SOURCE_LLADDR, 1)) + ad.source_mac.ljust(6, b"\0")[:6]
    if ad.mtu is not None:
        body += struct.pack("!BBHI", OPT_MTU, 1, 0, ad.mtu)
    return bytes(body)


def decode(data: bytes) -> Advertisement:
    """The router advertisement in ``data`` (an ICMPv6 message); Malformed otherwise."""
    if len(data) < _HEAD.size or data[0] != ROUTER_ADVERTISEMENT or data[1] != 0:
        raise Malformed("not a router advertisement")
    _, _, _, hop_limit, flags, lifetime, _, _ = _HEAD.unpack_from(data)
    mtu = mac = None
    prefixes = 0
    at = _HEAD.size
    while at < len(data):
        if at + 2 > len(data) or data[at + 1] == 0 or at + 8 * data[at + 1] > len(data):
            raise Malformed(f"an option at byte {at} runs past the end or has length 0")
        code, size = data[at], 8 * data[at + 1]
        if code == OPT_MTU:
            mtu = struct.unpack_from("!I", data, at + 4)[0]
        elif code == OPT_SOURCE_LLADDR:
            mac = data[at + 2 : at + 8]
        elif code == OPT_PREFIX:
            prefixes += 1
        at += size
    return Advertisement(
        lifetime,
        mtu,
        mac,
        managed=bool(flags & MANAGED),
        other=bool(flags & OTHER),
        hop_limit=hop_limit,
        prefixes=prefixes,
    )


def is_solicitation(data: bytes) -> bool:
    """Whether ``data`` (an ICMPv6 message) is a router solicitation (RFC 4861 6.1.1)."""
    return len(data) >= 8 and data[0] == ROUTER_SOLICITATION and data[1] == 0
