"""Announcing an address taken over: gratuitous ARP (IPv4), unsolicited neighbour
advertisement (IPv6).

When a host takes a VIP over, the routers and hosts on the layer 2 still map the VIP to the
previous holder's MAC until their entries age out, tens of seconds later. An announcement
makes them switch to the new holder's MAC at once. The frames are built here from values
alone (:func:`arp_frames`, :func:`neighbour_advertisement`, :func:`frames`); :func:`send` is
the only I/O. It writes whole Ethernet frames on an ``AF_PACKET`` socket opened inside the
namespace (enter, open, leave: :mod:`romana.dataplane.netns`), so they leave the named
interface exactly as built: no route lookup, no source selection, no firewall on the way.

* IPv4: an ARP request and an ARP reply, both broadcast, sender = target = the address,
  sender hardware = the interface's MAC. The reply also names that MAC as target hardware:
  Linux takes a reply as gratuitous only then (``arp_is_garp``), and a gratuitous ARP
  updates an entry even within its ``locktime``; some routers heed only one of the two.
* IPv6: a neighbour advertisement to all nodes (``ff02::1``), hop limit 255, from the
  address itself (as the kernel's own unsolicited advertisement is), with the Override flag
  (Solicited must be clear toward a multicast destination, and a VIP is no router) and the
  target link-layer address option; the ICMPv6 checksum is computed here.

Each frame goes out :data:`COPIES` times back to back, so one lost frame does not leave a
neighbour on the old MAC. Receivers only update entries they have; a neighbour that never
talked to the address resolves it the ordinary way, and the new holder answers.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct

from romana.core.errors import Forbidden, InvalidInput, Issue, NotFound, RomanaError, Unavailable
from romana.dataplane import netns as netns_mod

COPIES = 2
ETH_P_ARP, ETH_P_IP, ETH_P_IPV6 = 0x0806, 0x0800, 0x86DD
ARPHRD_ETHER, ARPOP_REQUEST, ARPOP_REPLY = 1, 1, 2
IPPROTO_ICMPV6 = 58
ND_NEIGHBOR_ADVERT = 136
ND_NA_FLAG_ROUTER, ND_NA_FLAG_SOLICITED, ND_NA_FLAG_OVERRIDE = 0x80000000, 0x40000000, 0x20000000
ND_OPT_TARGET_LINKADDR = 2
HOP_LIMIT = 255  # receivers drop neighbour discovery that crossed a router (RFC 4861)
ALL_NODES = ipaddress.IPv6Address("ff02::1")
BROADCAST = b"\xff" * 6
MIN_FRAME = 60  # the shortest Ethernet frame without its FCS; ARP is padded to it

ETHERNET = struct.Struct("!6s6sH")  # destination, source, ethertype
ARP = struct.Struct("!HHBBH6s4s6s4s")  # htype, ptype, hlen, plen, op, sha, spa, tha, tpa
IPV6 = struct.Struct("!IHBB16s16s")  # version/class/flow, payload length, next header, hops
NA = struct.Struct("!BBHI16sBB6s")  # type, code, checksum, flags, target, option

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _mac(mac: str) -> bytes:
    try:
        raw = bytes.fromhex(mac.replace(":", "")) if len(mac) == 17 else b""
    except ValueError:
        raw = b""
    if len(raw) != 6:
        raise InvalidInput(
            [Issue("mac", f"{mac!r} is not an Ethernet address (aa:bb:cc:dd:ee:ff)")]
        )
    return raw


def multicast_mac(group: ipaddress.IPv6Address) -> bytes:
    """The Ethernet address of an IPv6 multicast group: 33:33 and its last 32 bits."""
    return b"\x33\x33" + group.packed[-4:]


def arp_frames(address: ipaddress.IPv4Address, mac: str) -> tuple[bytes, bytes]:
    """The gratuitous ARP request and reply for ``address`` at ``mac``, broadcast."""
    sha, ip = _mac(mac), address.packed
    head = ETHERNET.pack(BROADCAST, sha, ETH_P_ARP)
    request = ARP.pack(ARPHRD_ETHER, ETH_P_IP, 6, 4, ARPOP_REQUEST, sha, ip, bytes(6), ip)
    reply = ARP.pack(ARPHRD_ETHER, ETH_P_IP, 6, 4, ARPOP_REPLY, sha, ip, sha, ip)
    return (head + request).ljust(MIN_FRAME, b"\0"), (head + reply).ljust(MIN_FRAME, b"\0")


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``: the one's complement of the one's
    complement sum of its 16-bit words, an odd last byte padded with zero."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def icmpv6_checksum(
    source: ipaddress.IPv6Address, destination: ipaddress.IPv6Address, message: bytes
) -> int:
    """The checksum of an ICMPv6 ``message`` (its checksum field zero): over the IPv6
    pseudo-header (addresses, length, next header) and the message (RFC 4443)."""
    pseudo = source.packed + destination.packed + struct.pack("!I3xB", len(message), IPPROTO_ICMPV6)
    return checksum(pseudo + message)


def neighbour_advertisement(address: ipaddress.IPv6Address, mac: str) -> bytes:
    """The unsolicited neighbour advertisement of ``address`` at ``mac`` to all nodes."""
    lladdr = _mac(mac)

    def message(sum16: int) -> bytes:
        # the option's length counts units of 8 bytes
        return NA.pack(
            ND_NEIGHBOR_ADVERT, 0, sum16, ND_NA_FLAG_OVERRIDE, address.packed,
            ND_OPT_TARGET_LINKADDR, 1, lladdr,
        )  # fmt: skip

    icmp = message(icmpv6_checksum(address, ALL_NODES, message(0)))
    ip6 = IPV6.pack(6 << 28, len(icmp), IPPROTO_ICMPV6, HOP_LIMIT, address.packed, ALL_NODES.packed)
    return ETHERNET.pack(multicast_mac(ALL_NODES), lladdr, ETH_P_IPV6) + ip6 + icmp


def frames(address: IPAddress, mac: str) -> tuple[bytes, ...]:
    """What announces ``address`` at ``mac``: gratuitous ARP or a neighbour advertisement."""
    if isinstance(address, ipaddress.IPv4Address):
        return arp_frames(address, mac)
    return (neighbour_advertisement(address, mac),)


def _error(exc: OSError, what: str, netns: str | None) -> RomanaError:
    code = exc.errno or 0
    text = f"{what}: {os.strerror(code)}"
    if netns is not None:
        text += f" in network namespace {netns}"
    if code in (errno.ENODEV, errno.ENXIO):
        return NotFound(text)
    if code in (errno.EPERM, errno.EACCES):
        return Forbidden(text)
    if code in (errno.ENETDOWN, errno.ENOBUFS, errno.EAGAIN):
        return Unavailable(text)
    return RomanaError(text)


def send(netns: str | None, ifname: str, built: tuple[bytes, ...], copies: int = COPIES) -> None:
    """Write ``built`` (whole Ethernet frames) out of ``ifname`` in the namespace at
    ``netns`` (None: this one), ``copies`` times. NotFound: no such interface;
    Unavailable: it is down."""
    what = f"announce on {ifname}"
    try:
        with netns_mod.entered(netns):
            # protocol 0: the socket sends and never receives, so nothing queues up on it
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
    except OSError as exc:
        raise _error(exc, what, netns) from exc
    with sock:
        try:
            sock.bind((ifname, 0))  # the name is looked up in the socket's namespace
            for _ in range(copies):
                for frame in built:
                    sock.send(frame)
        except OSError as exc:
            raise _error(exc, what, netns) from exc
