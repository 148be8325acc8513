"""rtnetlink messages for links, addresses and routes: built and read here.

Every such route-netlink request the agent makes is built by one function of this module
(neighbours: :mod:`romana.dataplane.rtneigh`) and framed by :mod:`romana.dataplane.nlsock`;
every answer is parsed here into a small frozen snapshot (:class:`Link`, :class:`Route`).
Kernel names are kept verbatim (``IFA_F_NODAD``, ``RTNH_F_ONLINK``) so a request reads like
the kernel header it follows. Nothing here does I/O: :mod:`romana.dataplane.rtnl` (reads and
convergent changes) and :mod:`romana.dataplane.wire` (a fresh endpoint in two batches) send
what these functions build.

Invariants: requests that change a route name our protocol
(:data:`romana.core.kernelnames.ROUTE_PROTOCOL`) unless they are a workload's default
route; a delete names what the kernel must match, so it never removes anything else.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct
from dataclasses import dataclass
from typing import TypedDict, Unpack

from romana.core import kernelnames
from romana.dataplane import nlsock
from romana.dataplane.nlsock import NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, Request

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK = 1, 3, 4, 5
IFLA_LINK_NETNSID = 37
IFLA_LINKINFO, IFLA_IFALIAS, IFLA_AF_SPEC, IFLA_NET_NS_FD, IFLA_EXT_MASK = 18, 20, 26, 28, 29
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFLA_INET_CONF, IPV4_DEVCONF_RP_FILTER = 1, 8
RTEXT_FILTER_SKIP_STATS = 1 << 3
IFA_ADDRESS, IFA_LOCAL, IFA_CACHEINFO, IFA_FLAGS = 1, 2, 6, 8
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_TABLE = 1, 4, 5, 6, 15
IFF_UP = 0x1
IFA_F_NODAD = 0x02
IFA_F_NOPREFIXROUTE = 0x200
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RT_SCOPE_NOWHERE = 0, 253, 255
RT_TABLE_MAIN = kernelnames.ROUTE_TABLE
RTN_UNICAST = 1
RTNH_F_ONLINK = 0x4
RTPROT_STATIC = 4  # a workload's default route: what `ip route add` would give it
ROUTE_PROTOCOL = kernelnames.ROUTE_PROTOCOL
# The kernel gives IPv6 routes without an explicit metric the priority 1024.
DEFAULT_PRIORITY = {4: 0, 6: 1024}

IFINFO = struct.Struct("=BxHiII")  # family, type, index, flags, change
IFADDR = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, proto, scope, type
CACHEINFO = struct.Struct("=IIII")  # ifa_prefered, ifa_valid, cstamp, tstamp
INFINITY_LIFE_TIME = 0xFFFFFFFF  # a lifetime that never ends: the kernel's "forever"
FAMILY = {4: socket.AF_INET, 6: socket.AF_INET6}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


@dataclass(frozen=True, slots=True)
class Link:
    index: int
    ifname: str
    kind: str
    mtu: int
    mac: str  # "aa:bb:..." lowercase
    up: bool
    alias: str
    peer_index: int  # IFLA_LINK: the peer's ifindex (in its own namespace) for a veth
    peer_netnsid: int = -1  # IFLA_LINK_NETNSID: the id of the peer's namespace, -1: this one


@dataclass(frozen=True, slots=True)
class Route:
    dst: IPNetwork
    gateway: IPAddress | None
    oif: int
    proto: int
    priority: int
    type: int
    scope: int
    table: int


def host_iface(address: IPAddress) -> IPInterface:
    """``address`` as a host prefix (``/32``, ``/128``)."""
    return ipaddress.ip_interface((address, address.max_prefixlen))


# --- reading answers -------------------------------------------------------------------------


def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


def _u32(payload: bytes | None) -> int:
    return struct.unpack("=I", payload[:4])[0] if payload else 0


def _s32(payload: bytes | None) -> int:
    return int(struct.unpack("=i", payload[:4])[0]) if payload else -1


def link(message: nlsock.Message) -> Link:
    _, _, index, flags, _ = IFINFO.unpack_from(message.body)
    found = nlsock.attrs(message.body, IFINFO.size)
    info = nlsock.attrs(found.get(IFLA_LINKINFO, b""))
    return Link(
        index=index,
        ifname=nlsock.cstring(found.get(IFLA_IFNAME, b"")),
        kind=nlsock.cstring(info.get(IFLA_INFO_KIND, b"")),
        mtu=_u32(found.get(IFLA_MTU)),
        mac=mac_text(found.get(IFLA_ADDRESS, b"")),
        up=bool(flags & IFF_UP),
        alias=nlsock.cstring(found.get(IFLA_IFALIAS, b"")),
        peer_index=_u32(found.get(IFLA_LINK)),
        peer_netnsid=_s32(found.get(IFLA_LINK_NETNSID)),
    )


def address(message: nlsock.Message) -> tuple[int, IPInterface, int]:
    """(link index, address/prefixlen, scope) of an address answer."""
    _, prefixlen, _, scope, index = IFADDR.unpack_from(message.body)
    raw = nlsock.attrs(message.body, IFADDR.size).get(IFA_ADDRESS, b"")
    return index, ipaddress.ip_interface((ipaddress.ip_address(raw), prefixlen)), scope


def route(message: nlsock.Message) -> Route:
    family, dst_len, _, _, table, proto, scope, kind, _ = RTMSG.unpack_from(message.body)
    found = nlsock.attrs(message.body, RTMSG.size)
    zero = bytes(4 if family == socket.AF_INET else 16)
    gateway = found.get(RTA_GATEWAY)
    return Route(
        dst=ipaddress.ip_network((ipaddress.ip_address(found.get(RTA_DST, zero)), dst_len)),
        gateway=ipaddress.ip_address(gateway) if gateway else None,
        oif=_u32(found.get(RTA_OIF)),
        proto=proto,
        priority=_u32(found.get(RTA_PRIORITY)),
        type=kind,
        scope=scope,
        table=_u32(found.get(RTA_TABLE)) or table,
    )


# --- links -----------------------------------------------------------------------------------


def ifinfo(index: int = 0, up: bool | None = None) -> bytes:
    """An ifinfomsg; ``up`` None leaves the link state alone."""
    flags = IFF_UP if up else 0
    change = 0 if up is None else IFF_UP
    return IFINFO.pack(socket.AF_UNSPEC, 0, index, flags, change)


def get_link(ifname: str = "", index: int = 0, *, missing_ok: bool = False) -> Request:
    """One link by name or index; ``missing_ok``: an absent link is an empty answer."""
    body = ifinfo(index) + nlsock.u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)
    if ifname:
        body += nlsock.string(IFLA_IFNAME, ifname)
    ok = (errno.ENODEV,) if missing_ok else ()
    return Request(RTM_GETLINK, body, f"link get {ifname or index}", ok=ok)


def dump_links() -> Request:
    body = ifinfo() + nlsock.u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)
    return Request(RTM_GETLINK, body, "link dump", dump=True)


def add_link(ifname: str, kind: str) -> Request:
    """A link of ``kind`` (``dummy``, ``bridge``); one that exists already is fine."""
    body = (
        ifinfo()
        + nlsock.string(IFLA_IFNAME, ifname)
        + nlsock.nested(IFLA_LINKINFO, nlsock.string(IFLA_INFO_KIND, kind))
    )
    return Request(
        RTM_NEWLINK,
        body,
        f"link add {ifname} type {kind}",
        NLM_F_CREATE | NLM_F_EXCL,
        (errno.EEXIST,),
    )


class LinkChange(TypedDict, total=False):
    """What :func:`set_link` changes of a link; what is left out or None stays as it is."""

    up: bool | None
    mtu: int | None
    alias: str | None
    mac: str | None


def set_link(index: int, what: str, **change: Unpack[LinkChange]) -> Request:
    body = ifinfo(index, change.get("up"))
    if (mtu := change.get("mtu")) is not None:
        body += nlsock.u32(IFLA_MTU, mtu)
    if (alias := change.get("alias")) is not None:
        body += nlsock.string(IFLA_IFALIAS, alias)
    if (mac := change.get("mac")) is not None:
        body += nlsock.attr(IFLA_ADDRESS, mac_bytes(mac))
    return Request(RTM_NEWLINK, body, f"link set {what}")


def delete_link(index: int, ifname: str, *, missing_ok: bool = True) -> Request:
    return Request(
        RTM_DELLINK, ifinfo(index), f"link del {ifname}", ok=(errno.ENODEV,) if missing_ok else ()
    )


def create_veth(
    host_ifname: str, ifname: str, mtu: int, mac: str | None, netns_fd: int | None
) -> Request:
    """A veth pair: ``host_ifname`` here and up, its peer ``ifname`` in the namespace of
    ``netns_fd``, or here too when None (down: IFF_UP on the peer fails the whole request
    with ENOTCONN)."""
    peer = [ifinfo(), nlsock.string(IFLA_IFNAME, ifname), nlsock.u32(IFLA_MTU, mtu)]
    if netns_fd is not None:
        peer.append(nlsock.u32(IFLA_NET_NS_FD, netns_fd))
    if mac is not None:
        peer.append(nlsock.attr(IFLA_ADDRESS, mac_bytes(mac)))
    linkinfo = nlsock.nested(
        IFLA_LINKINFO,
        nlsock.string(IFLA_INFO_KIND, "veth"),
        nlsock.nested(IFLA_INFO_DATA, nlsock.attr(VETH_INFO_PEER, b"".join(peer))),
    )
    body = (
        ifinfo(up=True)
        + nlsock.string(IFLA_IFNAME, host_ifname)
        + nlsock.u32(IFLA_MTU, mtu)
        + linkinfo
    )
    return Request(RTM_NEWLINK, body, f"veth add {host_ifname}", NLM_F_CREATE | NLM_F_EXCL)


# --- addresses -------------------------------------------------------------------------------


def dump_addresses(index: int) -> Request:
    body = IFADDR.pack(socket.AF_UNSPEC, 0, 0, 0, index)
    return Request(RTM_GETADDR, body, f"addr dump {index}", dump=True)


def _ifaddr(index: int, iface: IPInterface, flags: int, scope: int) -> bytes:
    family = FAMILY[iface.version]
    return IFADDR.pack(family, iface.network.prefixlen, flags & 0xFF, scope, index)


def add_address(
    index: int, ifname: str, iface: IPInterface, scope_v4: int, ok: tuple[int, ...] = ()
) -> Request:
    """``iface`` on the link; IPv6 without duplicate address detection (ours alone), and
    a host prefix (``/128``) without a prefix route (we route it ourselves)."""
    raw = iface.ip.packed
    if iface.version == 4:
        body = (
            _ifaddr(index, iface, 0, scope_v4)
            + nlsock.attr(IFA_LOCAL, raw)
            + nlsock.attr(IFA_ADDRESS, raw)
        )
    else:
        host = iface.network.prefixlen == iface.max_prefixlen
        # ifa_flags is 8 bits wide: IFA_F_NOPREFIXROUTE only fits the IFA_FLAGS attribute
        flags = IFA_F_NODAD | (IFA_F_NOPREFIXROUTE if host else 0)
        body = (
            _ifaddr(index, iface, IFA_F_NODAD, RT_SCOPE_UNIVERSE)
            + nlsock.attr(IFA_ADDRESS, raw)
            + nlsock.u32(IFA_FLAGS, flags)
        )
    what = f"addr add {iface} dev {ifname}"
    return Request(RTM_NEWADDR, body, what, NLM_F_CREATE | NLM_F_EXCL, ok)


def hold_address(
    index: int, ifname: str, iface: IPInterface, lifetime: int, *, replace: bool
) -> Request:
    """``iface`` on the link for ``lifetime`` seconds (valid and preferred), after which the
    kernel removes it by itself. ``replace``: the address is there and its lifetime starts
    again (``NLM_F_REPLACE``); otherwise one that is there already is ``EEXIST``."""
    body = add_address(index, ifname, iface, RT_SCOPE_UNIVERSE).body + nlsock.attr(
        IFA_CACHEINFO, CACHEINFO.pack(lifetime, lifetime, 0, 0)
    )
    what = f"addr {'replace' if replace else 'add'} {iface} dev {ifname} valid_lft {lifetime}"
    flags = NLM_F_CREATE | (NLM_F_REPLACE if replace else NLM_F_EXCL)
    return Request(RTM_NEWADDR, body, what, flags)


def address_lifetime(message: nlsock.Message) -> int | None:
    """The valid lifetime left to an address answer, in whole seconds (the kernel counts
    down from the last add or replace); None: forever."""
    raw = nlsock.attrs(message.body, IFADDR.size).get(IFA_CACHEINFO)
    if raw is None or len(raw) < CACHEINFO.size:
        return None
    valid = CACHEINFO.unpack_from(raw)[1]
    return None if valid == INFINITY_LIFE_TIME else int(valid)


def delete_address(index: int, ifname: str, iface: IPInterface) -> Request:
    raw = iface.ip.packed
    body = _ifaddr(index, iface, 0, 0) + nlsock.attr(IFA_ADDRESS, raw)
    if iface.version == 4:
        # The kernel compares the prefix length only when IFA_ADDRESS comes with IFA_LOCAL
        # (as `ip addr del` sends them): without it 10.9.0.1/24 may go instead of /32.
        body += nlsock.attr(IFA_LOCAL, raw)
    return Request(RTM_DELADDR, body, f"addr del {iface} dev {ifname}", ok=(errno.EADDRNOTAVAIL,))


# --- routes ----------------------------------------------------------------------------------


def dump_routes(family: int, proto: int = 0, oif: int = 0) -> Request:
    """Main-table routes of ``family``, filtered by the kernel (strict checking) to one
    protocol and one outgoing link when given."""
    body = RTMSG.pack(family, 0, 0, 0, RT_TABLE_MAIN, proto, 0, 0, 0)
    if oif:
        body += nlsock.u32(RTA_OIF, oif)
    return Request(RTM_GETROUTE, body, "route dump", dump=True)


def get_route(toward: IPAddress) -> Request:
    body = RTMSG.pack(FAMILY[toward.version], toward.max_prefixlen, 0, 0, 0, 0, 0, 0, 0)
    return Request(RTM_GETROUTE, body + nlsock.attr(RTA_DST, toward.packed), f"route get {toward}")


def route_request(
    kind: int,
    flags: int,
    what: str,
    dst: IPNetwork,
    *,
    gateway: IPAddress | None = None,
    oif: int = 0,
    proto: int = ROUTE_PROTOCOL,
    scope: int = RT_SCOPE_UNIVERSE,
    priority: int = 0,
    onlink: bool = False,
    ok: tuple[int, ...] = (),
    table: int = RT_TABLE_MAIN,
) -> Request:
    """One route message; a delete (``RTM_DELROUTE``) matches every field given. A
    ``table`` above 255 goes in ``RTA_TABLE`` (the header's byte cannot hold it)."""
    rtype = 0 if kind == RTM_DELROUTE else RTN_UNICAST
    header = RTMSG.pack(
        FAMILY[dst.version],
        dst.prefixlen,
        0,
        0,
        table if table < 256 else 0,
        proto,
        scope,
        rtype,
        RTNH_F_ONLINK if onlink else 0,
    )
    body = header if table < 256 else header + nlsock.u32(RTA_TABLE, table)
    if dst.prefixlen:
        body += nlsock.attr(RTA_DST, dst.network_address.packed)
    if gateway is not None:
        body += nlsock.attr(RTA_GATEWAY, gateway.packed)
    if oif:
        body += nlsock.u32(RTA_OIF, oif)
    if priority:
        body += nlsock.u32(RTA_PRIORITY, priority)
    return Request(kind, body, what, flags, ok)


def default_route(
    index: int, ifname: str, gateway: IPAddress, table: int = RT_TABLE_MAIN
) -> Request:
    """``default via <gateway> dev <ifname> onlink`` inside a workload, in ``table``."""
    dst = ipaddress.ip_network("0.0.0.0/0" if gateway.version == 4 else "::/0")
    what = f"route replace default via {gateway} dev {ifname} onlink"
    what += "" if table == RT_TABLE_MAIN else f" table {table}"
    return route_request(
        RTM_NEWROUTE,
        NLM_F_CREATE | NLM_F_REPLACE,
        what,
        dst,
        gateway=gateway,
        oif=index,
        proto=RTPROT_STATIC,
        onlink=True,
        table=table,
    )


def host_route(index: int, ifname: str, address: IPAddress) -> Request:
    """Our ``/32`` (``/128``) route to an endpoint's address through its host veth."""
    dst = ipaddress.ip_network(address)
    return route_request(
        RTM_NEWROUTE,
        NLM_F_CREATE | NLM_F_REPLACE,
        f"route replace {dst} dev {ifname}",
        dst,
        oif=index,
        scope=RT_SCOPE_LINK if address.version == 4 else RT_SCOPE_UNIVERSE,
    )
