"""Source routing inside a docker container: each romana address answers by its own interface.

A container on two romana networks has two interfaces, each holding a ``/32`` (``/128``)
address; docker gives the default route to one of them only. Without more, a reply from the
other address leaves by the first interface, whose host end does not route that address, and
the host drops it as spoofed. So every romana interface in a container gets a routing table of
its own holding ``default via GATEWAY dev IF onlink`` (one per family), and each of its
addresses a rule ``from ADDRESS lookup TABLE``: what a packet is sent from decides the
interface it leaves by. Connections the container opens without choosing a source still take
the main table's default route, docker's.

The container's namespace is found from the host end of its veth, not from docker's sandbox
key, which another mount namespace may hide: the host end names the id its peer's namespace
has here (``IFLA_LINK_NETNSID``), and :func:`namespace_of` finds the process namespace
(``/proc/PID/ns/net``) that the kernel gives that id.

docker knows nothing of an endpoint's *external addresses* (docs/external.md): the agent
puts them on the interface itself (:func:`external_requests`), as ``/32`` (``/128``)
after docker's own addresses, so that the romana address stays the source the kernel picks,
each with the same rule as a romana address: replies from it leave by its interface.

Owned: in the container's namespace, the tables :func:`table_of` (one per interface index),
the rules at :data:`RULE_PRIORITY` that point to them, and the addresses inside the external
pools on a romana interface; nothing else is changed. Every change converges: a rule or an
address already there is success (``NLM_F_EXCL`` answers ``EEXIST``), one already gone too,
a route is replaced. The kernel drops them all with the namespace.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import struct
from collections.abc import Iterable

from romana.dataplane import nlsock, rtmsg
from romana.dataplane.nlsock import NLM_F_CREATE, NLM_F_EXCL, Request
from romana.dataplane.rtmsg import RT_SCOPE_UNIVERSE, IPAddress, IPNetwork, Link
from romana.dataplane.rtnl import Rtnl

RTM_NEWRULE, RTM_DELRULE = 32, 33
RTM_GETNSID = 90
RTGENMSG = struct.Struct("=Bxxx")
NETNSA_NSID, NETNSA_FD = 1, 3
FIB_RULE_HDR = struct.Struct(
    "=BBBBBBBBI"
)  # family, dst_len, src_len, tos, table, res, res, action; flags
FRA_SRC, FRA_PRIORITY, FRA_TABLE = 2, 6, 15
FR_ACT_TO_TBL = 1
TABLE_BASE = 0x52_0000
"""A romana interface's table is this plus its index in the container (tables 5373952 and
up: far from main (254), local (255) and what an operator numbers by hand)."""
RULE_PRIORITY = 1000
"""Before the main table's rule (32766), after the local table's (0)."""


def table_of(index: int) -> int:
    """The routing table of the container's interface ``index``."""
    return TABLE_BASE + index


def rule(address: IPAddress, table: int, *, delete: bool = False) -> Request:
    """``ip rule add from ADDRESS lookup TABLE pref RULE_PRIORITY``, once; with ``delete``,
    ``ip rule del`` of that rule (one already gone is success)."""
    family = rtmsg.FAMILY[address.version]
    body = (
        FIB_RULE_HDR.pack(family, 0, address.max_prefixlen, 0, 0, 0, 0, FR_ACT_TO_TBL, 0)
        + nlsock.attr(FRA_SRC, address.packed)
        + nlsock.u32(FRA_PRIORITY, RULE_PRIORITY)
        + nlsock.u32(FRA_TABLE, table)
    )
    what = f"rule {'del' if delete else 'add'} from {address} lookup {table} pref {RULE_PRIORITY}"
    if delete:
        return Request(RTM_DELRULE, body, what, 0, (errno.ENOENT,))
    return Request(RTM_NEWRULE, body, what, NLM_F_CREATE | NLM_F_EXCL, (errno.EEXIST,))


def requests(
    link: Link, addresses: Iterable[IPAddress], gateways: Iterable[IPAddress]
) -> list[Request]:
    """What makes ``addresses`` on ``link`` answer through it: its table's default routes
    (one per gateway family that one of the addresses has), then one rule per address."""
    table = table_of(link.index)
    mine = list(addresses)
    families = {a.version for a in mine}
    routes = [
        rtmsg.default_route(link.index, link.ifname, gateway, table)
        for gateway in gateways
        if gateway.version in families
    ]
    return [*routes, *(rule(a, table) for a in mine)]


def ensure(
    inner: Rtnl, link: Link, addresses: Iterable[IPAddress], gateways: Iterable[IPAddress]
) -> None:
    """Put :func:`requests` in place in ``inner``'s namespace."""
    inner.send(*requests(link, addresses, gateways))


def external_requests(
    link: Link,
    have: Iterable[IPAddress],
    wanted: Iterable[IPAddress],
    gateways: Iterable[IPAddress],
) -> list[Request]:
    """What turns the external addresses ``have`` on ``link`` into exactly ``wanted``: each
    address no longer wanted and its rule deleted, then each wanted one added (``/32``,
    ``/128``) and made to answer through ``link`` (:func:`requests`)."""
    table = table_of(link.index)
    mine, old = list(wanted), set(have)
    gone = [
        request
        for a in sorted(old - set(mine), key=lambda a: (a.version, int(a)))
        for request in (
            rtmsg.delete_address(link.index, link.ifname, _host(a)),
            rule(a, table, delete=True),
        )
    ]
    added = [
        rtmsg.add_address(link.index, link.ifname, _host(a), RT_SCOPE_UNIVERSE, ok=(errno.EEXIST,))
        for a in mine
    ]
    return [*gone, *added, *(requests(link, mine, gateways) if mine else ())]


def externals_on(inner: Rtnl, link: Link, pools: Iterable[IPNetwork]) -> tuple[IPAddress, ...]:
    """The addresses inside ``pools`` on ``link`` of ``inner``'s namespace."""
    ranges = list(pools)
    found = (iface.ip for iface, _ in inner.addresses(link.index))
    return tuple(a for a in found if any(a.version == p.version and a in p for p in ranges))


def _host(address: IPAddress) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    return ipaddress.ip_interface(f"{address}/{address.max_prefixlen}")


def interface(
    inner: Rtnl, mac: str, addresses: Iterable[IPAddress]
) -> tuple[Link, tuple[IPAddress, ...]] | None:
    """The link of ``inner``'s namespace with link-layer address ``mac``, up, and those of
    ``addresses`` docker put on it (an IPv4-only Docker network gets the allocation's IPv4
    address only); None while it is not there or holds none of them yet."""
    link = next((found for found in inner.links() if found.mac == mac.lower()), None)
    if link is None or not link.up:
        return None
    have = {iface.ip for iface, _ in inner.addresses(link.index)}
    present = tuple(a for a in addresses if ipaddress.ip_address(a) in have)
    return (link, present) if present else None


def nsid_request(fd: int) -> Request:
    """``RTM_GETNSID``: the id the asking socket's namespace gives the namespace ``fd``."""
    body = RTGENMSG.pack(0) + nlsock.u32(NETNSA_FD, fd)
    return Request(RTM_GETNSID, body, f"netns id of fd {fd}")


def nsid_of(message: nlsock.Message) -> int:
    found = nlsock.attrs(message.body, RTGENMSG.size).get(NETNSA_NSID)
    return int(struct.unpack("=i", found[:4])[0]) if found else -1


def namespace_of(sock: nlsock.Socket, nsid: int, proc: str = "/proc") -> str | None:
    """``/proc/PID/ns/net`` of a process in the namespace that ``sock``'s namespace calls
    ``nsid``; None when no process is in it (yet, or any more). Each namespace is asked
    about once, however many processes share it."""
    seen: set[tuple[int, int]] = set()
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        path = f"{proc}/{pid}/ns/net"
        try:
            st = os.stat(path)
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue  # the process ended, or is not ours to look at
        try:
            answer = sock.request(nsid_request(fd))
        finally:
            os.close(fd)
        if answer and nsid_of(answer[0]) == nsid:
            return path
    return None
