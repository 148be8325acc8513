"""A route-netlink socket bound to one network namespace: reads, and changes that converge.

:class:`Rtnl` opens a :class:`romana.dataplane.nlsock.Socket` inside a namespace (enter,
open, leave — see :mod:`romana.dataplane.netns`) with strict checking, so the kernel
filters dumps by table, protocol and link. Requests are built by
:mod:`romana.dataplane.rtmsg`; kernel errors become :mod:`romana.core.errors` types once, in
:meth:`romana.dataplane.nlsock.Socket.transact`, naming the request and the namespace.

The reads (:meth:`Rtnl.link`, :meth:`Rtnl.links`, :meth:`Rtnl.addresses`,
:meth:`Rtnl.address_lifetimes`, :meth:`Rtnl.routes`, :meth:`Rtnl.neighbours`,
:meth:`Rtnl.proxies`) return frozen snapshots; the changes state an end result, and errnos
that mean it is already there are success.

Threads: a socket is used by one thread at a time; the agent drives its dataplane objects
on one worker thread (a single-thread executor).
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable
from typing import Unpack

from romana.dataplane import nlsock, rtmsg, rtneigh
from romana.dataplane.rtmsg import (
    DEFAULT_PRIORITY,
    IFA_F_NODAD,
    IFA_F_NOPREFIXROUTE,
    IFF_UP,
    ROUTE_PROTOCOL,
    RT_SCOPE_LINK,
    RT_SCOPE_UNIVERSE,
    RT_TABLE_MAIN,
    RTN_UNICAST,
    RTNH_F_ONLINK,
    IPInterface,
    Link,
    Route,
    host_iface,
)
from romana.dataplane.rtneigh import NUD_PERMANENT

__all__ = [
    "DEFAULT_PRIORITY",
    "IFA_F_NODAD",
    "IFA_F_NOPREFIXROUTE",
    "IFF_UP",
    "NUD_PERMANENT",
    "ROUTE_PROTOCOL",
    "RTNH_F_ONLINK",
    "RTN_UNICAST",
    "RT_SCOPE_LINK",
    "RT_SCOPE_UNIVERSE",
    "RT_TABLE_MAIN",
    "IPInterface",
    "Link",
    "Route",
    "Rtnl",
    "host_iface",
]


class Rtnl(nlsock.Closing):
    """A route-netlink socket opened inside ``netns`` (None: the current namespace)."""

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns
        self.sock = nlsock.Socket(nlsock.NETLINK_ROUTE, netns, strict=True)

    def close(self) -> None:
        self.sock.close()

    def send(self, *requests: nlsock.Request) -> list[list[nlsock.Message]]:
        """Send ``requests`` in one batch (see :meth:`nlsock.Socket.transact`)."""
        return self.sock.transact(requests)

    # --- reads -------------------------------------------------------------------------

    def link(self, ifname: str) -> Link | None:
        found = self.sock.request(rtmsg.get_link(ifname, missing_ok=True))
        return rtmsg.link(found[0]) if found else None

    def link_by_index(self, index: int) -> Link | None:
        found = self.sock.request(rtmsg.get_link(index=index, missing_ok=True))
        return rtmsg.link(found[0]) if found else None

    def links(self) -> list[Link]:
        return [rtmsg.link(m) for m in self.sock.request(rtmsg.dump_links())]

    def addresses(self, index: int) -> list[tuple[IPInterface, int]]:
        """(address/prefixlen, scope) of every address on the link ``index``."""
        found = (rtmsg.address(m) for m in self.sock.request(rtmsg.dump_addresses(index)))
        return [(iface, scope) for at, iface, scope in found if at == index]

    def address_lifetimes(self, index: int) -> dict[IPInterface, int | None]:
        """Address/prefixlen → valid lifetime left in whole seconds (None: forever), of
        every address on the link ``index``."""
        found: dict[IPInterface, int | None] = {}
        for message in self.sock.request(rtmsg.dump_addresses(index)):
            at, iface, _ = rtmsg.address(message)
            if at == index:
                found[iface] = rtmsg.address_lifetime(message)
        return found

    def neighbours(self, index: int) -> dict[rtmsg.IPAddress, str]:
        """Permanent neighbour entries on the link ``index``: address → link-layer address."""
        found: dict[rtmsg.IPAddress, str] = {}
        for message in self.sock.request(rtneigh.dump_neighbours(index)):
            at, state, dst, lladdr = rtneigh.neighbour(message)
            if at == index and dst is not None and lladdr and state & NUD_PERMANENT:
                found[dst] = lladdr
        return found

    def proxies(self) -> list[tuple[int, rtmsg.IPAddress]]:
        """(link index, address) of every proxy neighbour entry, both families; index 0
        for an entry on no link."""
        found = (rtneigh.proxy(m) for m in self.sock.request(rtneigh.dump_proxies()))
        return [entry for entry in found if entry is not None]

    def routes(self, proto: int = 0, oif: int = 0) -> list[Route]:
        """Unicast routes of the main table of both families, filtered by the kernel to
        one protocol and one outgoing link when given."""
        # one request per family: a socket runs one dump at a time (EBUSY otherwise)
        return [
            r
            for family in (socket.AF_INET, socket.AF_INET6)
            for r in map(rtmsg.route, self.sock.request(rtmsg.dump_routes(family, proto, oif)))
            if r.type == RTN_UNICAST
            and r.table == RT_TABLE_MAIN
            and proto in (0, r.proto)
            and oif in (0, r.oif)
        ]

    def route_oif(self, toward: rtmsg.IPAddress) -> int:
        """The outgoing link index of the route the kernel would use toward ``toward``."""
        found = self.sock.request(rtmsg.get_route(toward))
        return rtmsg.route(found[0]).oif if found else 0

    # --- changes -----------------------------------------------------------------------

    def ensure_addresses(
        self, link: Link, want: Iterable[IPInterface], scope_v4: int, *, fresh: bool = False
    ) -> bool:
        """Exactly ``want`` on ``link``, IPv6 link-local addresses aside; True if changed.

        IPv6 addresses are added without duplicate address detection (``nodad``): they are
        ours alone, and DAD would hold them unusable ("tentative") for about a second.
        ``fresh`` says the link was just created, so there is nothing to read first.
        """
        wanted = set(want)
        have = (
            set()
            if fresh
            else {
                iface
                for iface, _ in self.addresses(link.index)
                if not (iface.version == 6 and iface.ip.is_link_local)
            }
        )
        gone = [rtmsg.delete_address(link.index, link.ifname, i) for i in have - wanted]
        added = [
            rtmsg.add_address(link.index, link.ifname, i, scope_v4, ok=(errno.EEXIST,))
            for i in sorted(wanted - have, key=lambda i: (i.version, int(i.ip), i.network))
        ]
        if gone:
            self.send(*gone)
        if added:
            self.send(*added)
        return have != wanted

    def set_link(self, link: Link, **change: Unpack[rtmsg.LinkChange]) -> None:
        """Change ``link``'s state, MTU, alias or MAC; what is None stays as it is."""
        self.sock.request(rtmsg.set_link(link.index, link.ifname, **change))

    def delete_link(self, link: Link) -> None:
        """Delete ``link``; one that is gone already is fine."""
        self.sock.request(rtmsg.delete_link(link.index, link.ifname))

    def delete_route(self, route: Route) -> None:
        """Delete our route ``route`` as read; one that is gone already is fine."""
        self.sock.request(
            rtmsg.route_request(
                rtmsg.RTM_DELROUTE,
                0,
                f"route del {route.dst}",
                route.dst,
                oif=route.oif,
                scope=route.scope,  # the kernel matches the scope on delete
                priority=route.priority,
                ok=(errno.ESRCH, errno.ENOENT),
            )
        )

    def add_proxy(self, link: Link, address: rtmsg.IPAddress) -> None:
        """Answer ARP or neighbour solicitations for ``address`` on ``link``; an entry that
        is there already is fine."""
        self.sock.request(rtneigh.proxy_entry(True, link.index, link.ifname, address))

    def delete_proxy(self, index: int, ifname: str, address: rtmsg.IPAddress) -> None:
        """Delete the proxy entry for ``address`` on the link ``index``; one that is gone
        already is fine."""
        self.sock.request(rtneigh.proxy_entry(False, index, ifname, address))
