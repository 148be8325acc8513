"""A route-netlink socket bound to one network namespace, with errors translated once.

This is the only module that imports pyroute2. :class:`Rtnl` opens an ``IPRoute`` socket
inside a namespace (enter, open, leave — see :mod:`romana.dataplane.netns`); every request
goes through :meth:`Rtnl.request`, which turns a ``NetlinkError`` into a
:mod:`romana.core.errors` type chained to the original; kernel messages are read into small
frozen snapshots (:class:`Link`, :class:`Route`). Kernel names are kept verbatim
(``IFA_F_NODAD``, ``RTNH_F_ONLINK``, ``NUD_PERMANENT``).

Threads: the synchronous pyroute2 facade runs its own event loop, so it cannot be used on a
thread whose asyncio loop is running, and it keeps one socket per thread: used from another
thread it would silently open a second socket in *that* thread's namespace. An ``Rtnl``
therefore refuses calls from any thread but the one that created it; the agent creates and
drives its dataplane objects on one worker thread (a single-thread executor).
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import RTM_GETADDR, RTM_GETROUTE
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from romana.core import errors
from romana.dataplane import netns as netns_mod
from romana.dataplane import nlsock

IFF_UP = 0x1
IFA_F_NODAD = 0x02
IFA_F_NOPREFIXROUTE = 0x200
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK = 0, 253
RT_TABLE_MAIN = 254
RTN_UNICAST = 1
RTNH_F_ONLINK = 0x4
NUD_PERMANENT = 0x80
# Our route protocol number ("R"): every route we create carries it, `ip route show proto 82`
# lists them, and deletions name it, so the kernel itself refuses to delete any other route.
ROUTE_PROTOCOL = 0x52
# The kernel gives IPv6 routes without an explicit metric the priority 1024.
DEFAULT_PRIORITY = {4: 0, 6: 1024}

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


def translate(exc: NetlinkError, what: str, where: str | None = None) -> errors.RomanaError:
    """The project error for a kernel errno; the message names the request and namespace."""
    return nlsock.translate(int(exc.code), what, where=where)


@dataclass(frozen=True, slots=True)
class Link:
    index: int
    ifname: str
    kind: str
    mtu: int
    mac: str
    up: bool
    alias: str
    peer_index: int  # IFLA_LINK: the peer's ifindex (in its own namespace) for a veth


@dataclass(frozen=True, slots=True)
class Route:
    dst: ipaddress.IPv4Network | ipaddress.IPv6Network
    gateway: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    oif: int
    proto: int
    priority: int
    type: int
    scope: int


def _link(msg: Any) -> Link:
    info = msg.get_attr("IFLA_LINKINFO")
    kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
    return Link(
        index=int(msg["index"]),
        ifname=str(msg.get_attr("IFLA_IFNAME")),
        kind=str(kind or ""),
        mtu=int(msg.get_attr("IFLA_MTU") or 0),
        mac=str(msg.get_attr("IFLA_ADDRESS") or ""),
        up=bool(msg["flags"] & IFF_UP),
        alias=str(msg.get_attr("IFLA_IFALIAS") or ""),
        peer_index=int(msg.get_attr("IFLA_LINK") or 0),
    )


def _route(msg: Any) -> Route:
    family = 4 if msg["family"] == socket.AF_INET else 6
    dst = msg.get_attr("RTA_DST") or ("0.0.0.0" if family == 4 else "::")
    gateway = msg.get_attr("RTA_GATEWAY")
    return Route(
        dst=ipaddress.ip_network(f"{dst}/{msg['dst_len']}"),
        gateway=ipaddress.ip_address(gateway) if gateway else None,
        oif=int(msg.get_attr("RTA_OIF") or 0),
        proto=int(msg["proto"]),
        priority=int(msg.get_attr("RTA_PRIORITY") or 0),
        type=int(msg["type"]),
        scope=int(msg["scope"]),
    )


class Rtnl:
    """An ``IPRoute`` socket opened inside ``netns`` (None: the current namespace)."""

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns
        self._thread = threading.get_ident()
        with netns_mod.entered(netns):
            # strict checking lets the kernel filter dumps (by table, protocol, link), so
            # listing our routes costs the same on a host with two routes or two thousand
            self.ipr: Any = IPRoute(strict_check=True)

    def close(self) -> None:
        self.ipr.close()

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        what: str,
        call: Callable[..., Any],
        *args: Any,
        ok: tuple[int, ...] = (),
        **kwargs: Any,
    ) -> list[Any]:
        """``call(*args, **kwargs)`` as a list; errnos in ``ok`` mean success (empty list)."""
        if threading.get_ident() != self._thread:
            raise RuntimeError("an Rtnl socket is used from a thread other than its creator's")
        try:
            return list(call(*args, **kwargs) or ())
        except NetlinkError as exc:
            if exc.code in ok:
                return []
            raise translate(exc, what, self.netns) from exc

    def link(self, ifname: str) -> Link | None:
        msgs = self.request(
            f"link get {ifname}", self.ipr.link, "get", ifname=ifname, ok=(errno.ENODEV,)
        )
        return _link(msgs[0]) if msgs else None

    def links(self) -> list[Link]:
        return [_link(m) for m in self.request("link dump", self.ipr.link, "dump")]

    def dump(self, what: str, request: Any, msg_type: int) -> list[Any]:
        """A dump filtered by the kernel according to the fields of ``request``.

        pyroute2 0.9.7 filters its own dumps in Python after reading everything, and its
        synchronous ``nlm_request`` fails on a missing status key, so the request goes
        through the asynchronous core the same way the synchronous facade does.
        """
        call = partial(self.ipr._generate_with_cleanup, self.ipr.asyncore.nlm_request)
        return self.request(what, call, request, msg_type)

    def addresses(self, index: int) -> list[tuple[IPInterface, int]]:
        """(address/prefixlen, scope) of every address on the link ``index``."""
        request = ifaddrmsg()
        request["index"] = index
        found = []
        for msg in self.dump(f"addr dump {index}", request, RTM_GETADDR):
            iface = ipaddress.ip_interface(f"{msg.get_attr('IFA_ADDRESS')}/{msg['prefixlen']}")
            found.append((iface, int(msg["scope"])))
        return found

    def link_by_index(self, index: int) -> Link | None:
        msgs = self.request(
            f"link get {index}", self.ipr.link, "get", index=index, ok=(errno.ENODEV,)
        )
        return _link(msgs[0]) if msgs else None

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
        for iface in have - wanted:
            self.request(
                f"addr del {iface} dev {link.ifname}",
                self.ipr.addr,
                "del",
                index=link.index,
                address=str(iface.ip),
                prefixlen=iface.network.prefixlen,
                ok=(errno.EADDRNOTAVAIL,),
            )
        for iface in wanted - have:
            extra: dict[str, int] = {"scope": scope_v4}
            if iface.version == 6:
                # a /128 needs no prefix route (we route it ourselves); a gateway's /64 keeps
                # its prefix route, which sinks traffic to unknown local endpoints
                host = iface.network.prefixlen == iface.max_prefixlen
                extra = {"flags": IFA_F_NODAD | (IFA_F_NOPREFIXROUTE if host else 0)}
            self.request(
                f"addr add {iface} dev {link.ifname}",
                self.ipr.addr,
                "add",
                index=link.index,
                address=str(iface.ip),
                prefixlen=iface.network.prefixlen,
                ok=(errno.EEXIST,),
                **extra,
            )
        return have != wanted

    def neighbours(self, index: int) -> dict[ipaddress.IPv4Address | ipaddress.IPv6Address, str]:
        """Permanent neighbour entries on the link ``index``: address → link-layer address."""
        found: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, str] = {}
        for msg in self.request(f"neigh dump {index}", self.ipr.neigh, "dump", ifindex=index):
            dst, lladdr = msg.get_attr("NDA_DST"), msg.get_attr("NDA_LLADDR")
            if dst and lladdr and msg["state"] & NUD_PERMANENT:
                found[ipaddress.ip_address(dst)] = str(lladdr).lower()
        return found

    def routes(self, proto: int = 0, oif: int = 0) -> list[Route]:
        """Unicast routes of the main table of both families, filtered by the kernel to
        one protocol and one outgoing link when given."""
        found: list[Route] = []
        for family in (socket.AF_INET, socket.AF_INET6):
            request = rtmsg()
            request["family"] = family
            request["table"] = RT_TABLE_MAIN
            request["proto"] = proto
            if oif:
                request["attrs"] = [("RTA_OIF", oif)]
            msgs = self.dump("route dump", request, RTM_GETROUTE)
            found.extend(_route(m) for m in msgs if m["type"] == RTN_UNICAST)
        return found
