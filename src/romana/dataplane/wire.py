"""A fresh endpoint wired in a millisecond or two: raw rtnetlink batches, no pyroute2 calls.

:func:`veth.ensure <romana.dataplane.veth.ensure>` converges any state into an endpoint, at
about 0.6 ms of pyroute2 per request. A CNI ADD on a fresh workload needs no reading and no
repair, so this module makes the same kernel objects with the framing of
:mod:`romana.dataplane.nlsock`, a few requests per ``send``:

* :func:`create_pair` (needs no address, so it can run while one is being allocated): host
  batch ``NEWLINK`` create + ``NEWLINK`` set + ``GETLINK``; workload batch ``NEWLINK`` set +
  ``GETLINK``;
* :func:`address_pair`: one batch inside the workload, one on the host;
* :func:`remove`: one ``DELLINK``.

The result is exactly what ``veth.ensure`` leaves for a fresh endpoint (the functional tests
compare both namespaces object by object): host veth ``hostplan.host_ifname(id)`` with the
id as alias, MTU, up, ``rp_filter=1``, the gateway addresses (``/32 scope link``, ``/128
nodad noprefixroute``), a ``/32`` (``/128``) route per address with protocol 82 and a
permanent neighbour for it; inside, the peer with its MTU (and MAC when given), up, the
addresses (``/32``, ``/128 nodad noprefixroute``), ``default via <gateway> onlink`` (protocol
static, like pyroute2's) and a permanent neighbour for each gateway.

What the kernel takes when a veth is created (checked on 6.18): ``IFF_UP`` in the host
side's ifinfomsg, but not in the peer's (the peer is opened before the pair is joined, so
the whole request fails with ENOTCONN); ``IFLA_IFALIAS`` on neither side (silently
dropped); ``IFLA_AF_SPEC`` (for ``rp_filter``) on neither (the request fails with
EAFNOSUPPORT). Hence the ``NEWLINK`` sets that follow: alias and ``rp_filter`` on the host,
up inside. ``rp_filter`` set through ``IFLA_AF_SPEC`` is the same per-device value the
``/proc/sys`` write of ``veth.ensure`` sets, without a file or a ``setns``.

Invariants: nothing here reads existing state or repairs it; anything but a fresh endpoint
is for ``veth.ensure``, which converges from whatever a failed call left. A taken name is
refused with nothing made; :func:`remove` only deletes names ``hostplan.is_host_ifname``
accepts. Each call opens at most one socket inside the workload namespace (two ``setns``)
and closes it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import struct
from dataclasses import dataclass

from romana.core import hostplan
from romana.core.errors import AlreadyExists, InvalidInput, Issue, NotFound, RomanaError
from romana.dataplane import netns as netns_mod
from romana.dataplane import nlsock
from romana.dataplane.nlsock import NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, Request
from romana.dataplane.rtnl import (
    IFA_F_NODAD,
    IFA_F_NOPREFIXROUTE,
    IFF_UP,
    NUD_PERMANENT,
    ROUTE_PROTOCOL,
    RT_SCOPE_LINK,
    RT_SCOPE_UNIVERSE,
    RT_TABLE_MAIN,
    RTN_UNICAST,
    RTNH_F_ONLINK,
)
from romana.dataplane.veth import Attached

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_NEWROUTE, RTM_NEWNEIGH = 20, 24, 28
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU = 1, 3, 4
IFLA_LINKINFO, IFLA_IFALIAS, IFLA_AF_SPEC, IFLA_NET_NS_FD, IFLA_EXT_MASK = 18, 20, 26, 28, 29
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFLA_INET_CONF, IPV4_DEVCONF_RP_FILTER = 1, 8
RTEXT_FILTER_SKIP_STATS = 1 << 3
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS = 1, 2, 8
RTA_DST, RTA_OIF, RTA_GATEWAY = 1, 4, 5
NDA_DST, NDA_LLADDR = 1, 2
RTPROT_STATIC = 4  # what pyroute2 gives a route without a protocol, so veth.ensure's too

_IFINFO = struct.Struct("=BxHiII")  # family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, proto, scope, type
_NDMSG = struct.Struct("=BxxxiHBB")  # family, ifindex, state, flags, type
_FAMILY = {4: socket.AF_INET, 6: socket.AF_INET6}


@dataclass(frozen=True, slots=True)
class Pair:
    """A veth pair :func:`create_pair` made: both ends' names, indexes and MACs."""

    host_ifname: str
    host_index: int
    host_mac: str  # "aa:bb:..." lowercase, as rtnl.Link.mac
    ifname: str
    peer_index: int  # index inside the workload namespace
    mac: str
    netns: str


# --- messages --------------------------------------------------------------------------------


def _ifinfo(index: int = 0, up: bool = False) -> bytes:
    flags = IFF_UP if up else 0
    return _IFINFO.pack(socket.AF_UNSPEC, 0, index, flags, flags)


def _get_link(ifname: str) -> Request:
    body = (
        _ifinfo()
        + nlsock.string(IFLA_IFNAME, ifname)
        + nlsock.u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)
    )
    return Request(RTM_GETLINK, body, f"link get {ifname}")


def _create(spec: hostplan.EndpointSpec, netns_fd: int) -> Request:
    peer = [
        _ifinfo(),  # IFF_UP here fails the whole request with ENOTCONN (module docstring)
        nlsock.string(IFLA_IFNAME, spec.ifname),
        nlsock.u32(IFLA_MTU, spec.mtu),
        nlsock.u32(IFLA_NET_NS_FD, netns_fd),
    ]
    if spec.mac is not None:
        peer.append(nlsock.attr(IFLA_ADDRESS, bytes.fromhex(spec.mac.replace(":", ""))))
    linkinfo = nlsock.nested(
        IFLA_LINKINFO,
        nlsock.string(IFLA_INFO_KIND, "veth"),
        nlsock.nested(IFLA_INFO_DATA, nlsock.attr(VETH_INFO_PEER, b"".join(peer))),
    )
    body = (
        _ifinfo(up=True)
        + nlsock.string(IFLA_IFNAME, spec.host_ifname)
        + nlsock.u32(IFLA_MTU, spec.mtu)
        + linkinfo
    )
    return Request(
        RTM_NEWLINK, body, f"veth add {spec.host_ifname}", flags=NLM_F_CREATE | NLM_F_EXCL
    )


def _host_settings(spec: hostplan.EndpointSpec) -> Request:
    rp_filter = nlsock.nested(
        IFLA_AF_SPEC,
        nlsock.nested(
            socket.AF_INET, nlsock.nested(IFLA_INET_CONF, nlsock.u32(IPV4_DEVCONF_RP_FILTER, 1))
        ),
    )
    body = (
        _ifinfo()
        + nlsock.string(IFLA_IFNAME, spec.host_ifname)
        + nlsock.string(IFLA_IFALIAS, spec.id)
        + rp_filter
    )
    return Request(RTM_NEWLINK, body, f"link set {spec.host_ifname} alias")


def _address(index: int, ifname: str, address: hostplan.IPAddress, scope_v4: int) -> Request:
    """``address`` as a host prefix, flagged as :meth:`rtnl.Rtnl.ensure_addresses` does."""
    raw = address.packed
    if address.version == 4:
        body = (
            _IFADDR.pack(socket.AF_INET, 32, 0, scope_v4, index)
            + nlsock.attr(IFA_LOCAL, raw)
            + nlsock.attr(IFA_ADDRESS, raw)
        )
    else:
        # ifa_flags is 8 bits wide: IFA_F_NOPREFIXROUTE only fits the IFA_FLAGS attribute
        flags = IFA_F_NODAD | IFA_F_NOPREFIXROUTE
        body = (
            _IFADDR.pack(socket.AF_INET6, 128, IFA_F_NODAD, RT_SCOPE_UNIVERSE, index)
            + nlsock.attr(IFA_ADDRESS, raw)
            + nlsock.u32(IFA_FLAGS, flags)
        )
    what = f"addr add {address}/{address.max_prefixlen} dev {ifname}"
    return Request(RTM_NEWADDR, body, what, flags=NLM_F_CREATE | NLM_F_EXCL)


def _default_route(index: int, ifname: str, gateway: hostplan.IPAddress) -> Request:
    header = _RTMSG.pack(
        _FAMILY[gateway.version],
        0,
        0,
        0,
        RT_TABLE_MAIN,
        RTPROT_STATIC,
        RT_SCOPE_UNIVERSE,
        RTN_UNICAST,
        RTNH_F_ONLINK,
    )
    body = header + nlsock.attr(RTA_GATEWAY, gateway.packed) + nlsock.u32(RTA_OIF, index)
    what = f"route replace default via {gateway} dev {ifname} onlink"
    return Request(RTM_NEWROUTE, body, what, flags=NLM_F_CREATE | NLM_F_REPLACE)


def _host_route(index: int, ifname: str, address: hostplan.IPAddress) -> Request:
    header = _RTMSG.pack(
        _FAMILY[address.version],
        address.max_prefixlen,
        0,
        0,
        RT_TABLE_MAIN,
        ROUTE_PROTOCOL,
        RT_SCOPE_LINK if address.version == 4 else RT_SCOPE_UNIVERSE,
        RTN_UNICAST,
        0,
    )
    body = header + nlsock.attr(RTA_DST, address.packed) + nlsock.u32(RTA_OIF, index)
    what = f"route replace {address}/{address.max_prefixlen} dev {ifname}"
    return Request(RTM_NEWROUTE, body, what, flags=NLM_F_CREATE | NLM_F_REPLACE)


def _neighbour(index: int, ifname: str, address: hostplan.IPAddress, mac: str) -> Request:
    body = (
        _NDMSG.pack(_FAMILY[address.version], index, NUD_PERMANENT, 0, 0)
        + nlsock.attr(NDA_DST, address.packed)
        + nlsock.attr(NDA_LLADDR, bytes.fromhex(mac.replace(":", "")))
    )
    what = f"neigh replace {address} dev {ifname}"
    return Request(RTM_NEWNEIGH, body, what, flags=NLM_F_CREATE | NLM_F_REPLACE)


def _index_and_mac(replies: list[nlsock.Message]) -> tuple[int, str]:
    """(ifindex, MAC) of a ``GETLINK`` answer."""
    body = replies[0].body
    _, _, index, _, _ = _IFINFO.unpack_from(body)
    mac = nlsock.attrs(body, _IFINFO.size).get(IFLA_ADDRESS, b"")
    return index, ":".join(f"{b:02x}" for b in mac)


# --- the operations --------------------------------------------------------------------------


def create_pair(host: nlsock.Socket, spec: hostplan.EndpointSpec) -> Pair:
    """A fresh veth pair for ``spec``, up on both sides; addresses are not used.

    Raises ``InvalidInput`` for any problem of ``spec`` but its addresses and gateways (they
    may still be being allocated), ``NotFound`` when ``spec.netns`` does not exist, and
    ``AlreadyExists`` when either name is taken, leaving nothing made.
    """
    problems = [
        issue
        for issue in hostplan.endpoint_issues(spec)
        if issue.field not in ("endpoint.addresses", "endpoint.gateways")
    ]
    if problems:
        raise InvalidInput(problems, context="endpoint")
    fd = netns_mod.open_netns(spec.netns)
    try:
        # The set names the link, so when the create failed on a taken host name it lands
        # on that veth: named after the same id, it already has this alias and rp_filter.
        batch = [_create(spec, fd), _host_settings(spec), _get_link(spec.host_ifname)]
        replies = host.transact(batch)
    except AlreadyExists as exc:
        raise _taken(host, spec) from exc
    finally:
        os.close(fd)
    host_index, host_mac = _index_and_mac(replies[2])
    try:
        with nlsock.Socket(nlsock.NETLINK_ROUTE, spec.netns) as inner:
            up = Request(
                RTM_NEWLINK,
                _ifinfo(up=True) + nlsock.string(IFLA_IFNAME, spec.ifname),
                f"link set {spec.ifname} up",
            )
            peer_index, mac = _index_and_mac(inner.transact([up, _get_link(spec.ifname)])[1])
    except BaseException:
        # the pair is ours and unusable; the kernel takes the peer with it
        _delete(host, host_index, spec.host_ifname)
        raise
    return Pair(spec.host_ifname, host_index, host_mac, spec.ifname, peer_index, mac, spec.netns)


def _taken(host: nlsock.Socket, spec: hostplan.EndpointSpec) -> AlreadyExists:
    """Which name made the create fail: the host veth's, or else the peer's in the netns."""
    if host.request(_ok(_get_link(spec.host_ifname))):
        return AlreadyExists(f"interface {spec.host_ifname!r} already exists")
    return AlreadyExists(
        f"interface {spec.ifname!r} already exists in {spec.netns} and is not the "
        f"peer of {spec.host_ifname}"
    )


def _ok(request: Request) -> Request:
    """``request`` with a missing link (ENODEV) accepted as an empty answer."""
    return Request(request.type, request.body, request.what, request.flags, (errno.ENODEV,))


def _delete(host: nlsock.Socket, index: int, ifname: str) -> None:
    # already gone with its namespace, or not removable: the caller's error is the one to see
    with contextlib.suppress(RomanaError):
        host.request(Request(RTM_DELLINK, _ifinfo(index), f"link del {ifname}"))


def address_pair(host: nlsock.Socket, pair: Pair, spec: hostplan.EndpointSpec) -> Attached:
    """Addresses, default routes and neighbours of ``spec`` on a pair :func:`create_pair`
    made: one batch inside the workload, then one on the host."""
    problems = hostplan.endpoint_issues(spec)
    if (spec.host_ifname, spec.ifname, spec.netns) != (pair.host_ifname, pair.ifname, pair.netns):
        problems.append(Issue("endpoint", f"does not name the pair {pair.host_ifname}"))
    if problems:
        raise InvalidInput(problems, context="endpoint")
    inside: list[Request] = []
    inside.extend(
        _address(pair.peer_index, pair.ifname, a, RT_SCOPE_UNIVERSE) for a in spec.addresses
    )
    for gateway in spec.gateways:
        inside.append(_default_route(pair.peer_index, pair.ifname, gateway))
        inside.append(_neighbour(pair.peer_index, pair.ifname, gateway, pair.host_mac))
    outside: list[Request] = [
        _address(pair.host_index, pair.host_ifname, g, RT_SCOPE_LINK) for g in spec.gateways
    ]
    for address in sorted(spec.addresses, key=lambda a: (a.version, int(a))):
        outside.append(_host_route(pair.host_index, pair.host_ifname, address))
        outside.append(_neighbour(pair.host_index, pair.host_ifname, address, pair.mac))
    with nlsock.Socket(nlsock.NETLINK_ROUTE, pair.netns) as inner:
        inner.transact(inside)
    host.transact(outside)
    return Attached(pair.host_ifname, pair.host_mac, pair.ifname, pair.mac, pair.netns)


def disconnect(host: nlsock.Socket, host_ifname: str) -> bool:
    """Cut an endpoint off by setting its host veth down; False when it is already gone.

    About 0.1 ms where deleting the pair costs the kernel about 20 ms (an RCU grace period):
    down, the link loses its IPv4 routes and neighbours at once, the kernel stops using its
    IPv6 routes, and the workload's side loses its carrier, so no packet passes either way.
    """
    _own(host_ifname)
    body = _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, IFF_UP) + nlsock.string(IFLA_IFNAME, host_ifname)
    try:
        host.request(Request(RTM_NEWLINK, body, f"link set {host_ifname} down"))
    except NotFound:
        return False
    return True


def _own(host_ifname: str) -> None:
    if not hostplan.is_host_ifname(host_ifname):
        raise InvalidInput([Issue("host_ifname", f"{host_ifname!r} is not a name we own")])


def remove(host: nlsock.Socket, host_ifname: str) -> bool:
    """Delete an endpoint by its host veth name; False when it was already gone."""
    _own(host_ifname)
    body = _ifinfo() + nlsock.string(IFLA_IFNAME, host_ifname)
    try:
        host.request(Request(RTM_DELLINK, body, f"link del {host_ifname}"))
    except NotFound:
        return False
    return True
