"""A route-netlink socket bound to one network namespace, with errors translated once.

This is the only module that touches pyroute2 objects directly for the rest of the
dataplane: it opens an ``IPRoute`` socket inside a namespace (enter, open, leave — see
:mod:`romana.dataplane.netns`), sends requests through :meth:`Rtnl.request`, which turns a
``NetlinkError`` into a :mod:`romana.core.errors` type chained to the original, and reads
kernel messages into small frozen snapshots (:class:`Link`, :class:`Route`).

Kernel names are kept verbatim (``IFA_F_NODAD``, ``RTNH_F_ONLINK``, ``NUD_PERMANENT``).
A socket belongs to the thread that opened it: pyroute2 keeps its event loop per thread,
and a socket used from another thread would silently open a second one in *that* thread's
namespace. The agent therefore drives the dataplane from one thread.
"""

from __future__ import annotations

import errno
import ipaddress
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from romana.core import errors
from romana.dataplane import netns as netns_mod

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

_ERRNO: dict[int, type[errors.RomanaError]] = {
    errno.EEXIST: errors.AlreadyExists,
    errno.ENOTEMPTY: errors.AlreadyExists,
    errno.ENOENT: errors.NotFound,
    errno.ENODEV: errors.NotFound,
    errno.ESRCH: errors.NotFound,
    errno.ENXIO: errors.NotFound,
    errno.EADDRNOTAVAIL: errors.NotFound,
    errno.EPERM: errors.Forbidden,
    errno.EACCES: errors.Forbidden,
    errno.EOPNOTSUPP: errors.Unsupported,
    errno.EAFNOSUPPORT: errors.Unsupported,
    errno.EPROTONOSUPPORT: errors.Unsupported,
    errno.EINVAL: errors.InvalidInput,
    errno.ERANGE: errors.InvalidInput,
    errno.ENAMETOOLONG: errors.InvalidInput,
    errno.EBUSY: errors.Unavailable,
    errno.EAGAIN: errors.Unavailable,
    errno.EINTR: errors.Unavailable,
    errno.ENOBUFS: errors.Unavailable,
    errno.ENETDOWN: errors.Unavailable,
    errno.ENETUNREACH: errors.Unavailable,
    errno.EHOSTUNREACH: errors.Unavailable,
}


def translate(exc: NetlinkError, what: str, where: str | None = None) -> errors.RomanaError:
    """The project error for a kernel errno; the message names the request and namespace."""
    code = int(exc.code)
    name = errno.errorcode.get(code, str(code))
    text = f"netlink {what}: {name} ({os.strerror(code)})"
    if where is not None:
        text += f" in network namespace {where}"
    return _ERRNO.get(code, errors.RomanaError)(text)


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
    family = 4 if msg["family"] == 2 else 6
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
        with netns_mod.entered(netns):
            self.ipr: Any = IPRoute()

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

    def addresses(self, index: int) -> list[tuple[IPInterface, int]]:
        """(address/prefixlen, scope) of every address on the link ``index``."""
        found = []
        for msg in self.request(f"addr dump {index}", self.ipr.get_addr, index=index):
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
            extra = (
                {"scope": scope_v4}
                if iface.version == 4
                else {"flags": IFA_F_NODAD | IFA_F_NOPREFIXROUTE}
            )
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

    def routes(self, **match: Any) -> list[Route]:
        """Unicast routes of the main table of both families, filtered by ``match``."""
        found: list[Route] = []
        for family in (2, 10):
            msgs = self.request(
                "route dump",
                self.ipr.route,
                "dump",
                family=family,
                match={"table": RT_TABLE_MAIN, **match},
            )
            found.extend(_route(m) for m in msgs if m["type"] == RTN_UNICAST)
        return found
