"""rtnetlink messages for neighbours and proxy entries: built and read here.

A neighbour entry pins an address to a link-layer address on one link (the gateway inside a
workload, the workload on its host veth), so no ARP or neighbour discovery runs before the
first packet; a proxy entry makes the kernel answer ARP and neighbour solicitations for an
address on a link. As in :mod:`romana.dataplane.rtmsg`, kernel names are kept verbatim and
nothing here does I/O.

Invariants: an added proxy entry names our protocol
(:data:`romana.core.kernelnames.ROUTE_PROTOCOL`), so ``ip neigh show proxy`` tells ours apart;
adding one that exists and deleting one that is gone are not errors.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct

from romana.dataplane import nlsock
from romana.dataplane.nlsock import NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, Request
from romana.dataplane.rtmsg import FAMILY, ROUTE_PROTOCOL, IPAddress, mac_bytes, mac_text

RTM_NEWNEIGH, RTM_DELNEIGH, RTM_GETNEIGH = 28, 29, 30
NDA_DST, NDA_LLADDR, NDA_IFINDEX, NDA_PROTOCOL = 1, 2, 8, 12
NUD_PERMANENT = 0x80
NTF_PROXY = 0x08
NDMSG = struct.Struct("=BxxxiHBB")  # family, ifindex, state, flags, type


def neighbour(message: nlsock.Message) -> tuple[int, int, IPAddress | None, str]:
    """(link index, state, address, link-layer address) of a neighbour answer."""
    _, index, state, _, _ = NDMSG.unpack_from(message.body)
    found = nlsock.attrs(message.body, NDMSG.size)
    dst = found.get(NDA_DST)
    return (
        index,
        state,
        ipaddress.ip_address(dst) if dst else None,
        mac_text(found.get(NDA_LLADDR, b"")),
    )


def dump_neighbours(index: int) -> Request:
    body = NDMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + nlsock.u32(NDA_IFINDEX, index)
    return Request(RTM_GETNEIGH, body, f"neigh dump {index}", dump=True)


def neighbour_entry(index: int, ifname: str, address: IPAddress, mac: str) -> Request:
    """A permanent neighbour entry: ``address`` is at ``mac`` on the link."""
    body = (
        NDMSG.pack(FAMILY[address.version], index, NUD_PERMANENT, 0, 0)
        + nlsock.attr(NDA_DST, address.packed)
        + nlsock.attr(NDA_LLADDR, mac_bytes(mac))
    )
    what = f"neigh replace {address} dev {ifname}"
    return Request(RTM_NEWNEIGH, body, what, NLM_F_CREATE | NLM_F_REPLACE)


def dump_proxies() -> Request:
    """Every proxy neighbour entry of both families (``ndm_flags`` exactly ``NTF_PROXY``
    makes the kernel list its proxy table instead of the neighbour cache)."""
    body = NDMSG.pack(socket.AF_UNSPEC, 0, 0, NTF_PROXY, 0)
    return Request(RTM_GETNEIGH, body, "neigh show proxy", dump=True)


def proxy(message: nlsock.Message) -> tuple[int, IPAddress] | None:
    """(link index, address) of a proxy entry answer; None for an ordinary neighbour."""
    _, index, _, flags, _ = NDMSG.unpack_from(message.body)
    dst = nlsock.attrs(message.body, NDMSG.size).get(NDA_DST)
    if not flags & NTF_PROXY or not dst:
        return None
    return index, ipaddress.ip_address(dst)


def proxy_entry(add: bool, index: int, ifname: str, address: IPAddress) -> Request:
    """Add (or delete) the proxy entry for ``address`` on the link: the kernel then answers
    ARP or neighbour solicitations for it there. Adding one that exists and deleting one
    that is gone (or whose link is) are fine. An added entry names our protocol, so
    ``ip neigh show proxy`` tells it apart."""
    body = NDMSG.pack(FAMILY[address.version], index, 0, NTF_PROXY, 0) + nlsock.attr(
        NDA_DST, address.packed
    )
    what = f"neigh {'add' if add else 'del'} proxy {address} dev {ifname}"
    if add:
        body += nlsock.u8(NDA_PROTOCOL, ROUTE_PROTOCOL)
        return Request(RTM_NEWNEIGH, body, what, NLM_F_CREATE | NLM_F_EXCL, (errno.EEXIST,))
    return Request(RTM_DELNEIGH, body, what, ok=(errno.ENOENT, errno.ENODEV))
