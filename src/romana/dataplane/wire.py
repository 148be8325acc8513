"""A fresh endpoint wired in a millisecond or two: a few rtnetlink batches, nothing read.

:func:`veth.ensure <romana.dataplane.veth.ensure>` converges any state into an endpoint,
reading each object before it changes it. A CNI ADD on a fresh workload needs no reading
and no repair, so this module sends the same requests (built by
:mod:`romana.dataplane.rtmsg`) blind, a few per ``send``:

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
static) and a permanent neighbour for each gateway.

What the kernel takes when a veth is created (checked on 6.18): ``IFF_UP`` in the host
side's ifinfomsg, but not in the peer's (the peer is opened before the pair is joined, so
the whole request fails with ENOTCONN); ``IFLA_IFALIAS`` on neither side (silently
dropped); ``IFLA_AF_SPEC`` (for ``rp_filter``) on neither (the request fails with
EAFNOSUPPORT). Hence the ``NEWLINK`` sets that follow: alias and ``rp_filter`` on the host,
up inside. ``rp_filter`` set through ``IFLA_AF_SPEC`` is the same per-device value the
``/proc/sys`` write of ``veth.ensure`` sets, without a file or a ``setns``.

A docker endpoint (``hostplan.DOCKER``) is the same pair with its workload end left down in
the host namespace, for docker to move into its sandbox and configure there: :func:`create_pair`
creates the peer beside the host veth and reads it back in the same batch, and
:func:`address_pair` sends the host batch only. Its host veth is wired exactly as a veth
endpoint's.

Invariants: nothing here reads existing state or repairs it; anything but a fresh endpoint
is for ``veth.ensure``, which converges from whatever a failed call left. A taken name is
refused with nothing made; :func:`remove` only deletes names ``hostplan.is_host_ifname``
accepts. Each call opens at most one socket inside the workload namespace (two ``setns``)
and closes it.
"""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass

from romana.core import hostplan
from romana.core.errors import AlreadyExists, InvalidInput, Issue, NotFound, RomanaError
from romana.dataplane import netns as netns_mod
from romana.dataplane import nlsock, rtmsg, rtneigh
from romana.dataplane.nlsock import Request
from romana.dataplane.rtmsg import (
    IFF_UP,
    IFINFO,
    IFLA_AF_SPEC,
    IFLA_IFALIAS,
    IFLA_IFNAME,
    IFLA_INET_CONF,
    IPV4_DEVCONF_RP_FILTER,
    RT_SCOPE_LINK,
    RT_SCOPE_UNIVERSE,
    RTM_DELLINK,
    RTM_NEWLINK,
)
from romana.dataplane.veth import Attached


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


def _host_settings(spec: hostplan.EndpointSpec) -> Request:
    rp_filter = nlsock.nested(
        IFLA_AF_SPEC,
        nlsock.nested(
            socket.AF_INET, nlsock.nested(IFLA_INET_CONF, nlsock.u32(IPV4_DEVCONF_RP_FILTER, 1))
        ),
    )
    body = (
        rtmsg.ifinfo()
        + nlsock.string(IFLA_IFNAME, spec.host_ifname)
        + nlsock.string(IFLA_IFALIAS, spec.id)
        + rp_filter
    )
    return Request(RTM_NEWLINK, body, f"link set {spec.host_ifname} alias")


def _index_and_mac(replies: list[nlsock.Message]) -> tuple[int, str]:
    """(ifindex, MAC) of a ``GETLINK`` answer."""
    link = rtmsg.link(replies[0])
    return link.index, link.mac


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
    beside = spec.attachment == hostplan.DOCKER  # the peer stays in the host namespace
    fd = None if beside else netns_mod.open_netns(spec.netns)
    try:
        # The set names the link, so when the create failed on a taken host name it lands
        # on that veth: named after the same id, it already has this alias and rp_filter.
        create = rtmsg.create_veth(spec.host_ifname, spec.ifname, spec.mtu, spec.mac, fd)
        batch = [create, _host_settings(spec), rtmsg.get_link(spec.host_ifname)]
        if beside:
            batch.append(rtmsg.get_link(spec.ifname))
        replies = host.transact(batch)
    except AlreadyExists as exc:
        raise _taken(host, spec) from exc
    finally:
        if fd is not None:
            os.close(fd)
    host_index, host_mac = _index_and_mac(replies[2])
    if beside:
        peer_index, mac = _index_and_mac(replies[3])
        return Pair(
            spec.host_ifname, host_index, host_mac, spec.ifname, peer_index, mac, spec.netns
        )
    try:
        with nlsock.Socket(nlsock.NETLINK_ROUTE, spec.netns) as inner:
            up = Request(
                RTM_NEWLINK,
                rtmsg.ifinfo(up=True) + nlsock.string(IFLA_IFNAME, spec.ifname),
                f"link set {spec.ifname} up",
            )
            answers = inner.transact([up, rtmsg.get_link(spec.ifname)])
            peer_index, mac = _index_and_mac(answers[1])
    except BaseException:
        # the pair is ours and unusable; the kernel takes the peer with it
        _delete(host, host_index, spec.host_ifname)
        raise
    return Pair(spec.host_ifname, host_index, host_mac, spec.ifname, peer_index, mac, spec.netns)


def _taken(host: nlsock.Socket, spec: hostplan.EndpointSpec) -> AlreadyExists:
    """Which name made the create fail: the host veth's, or else the peer's in the netns."""
    if host.request(rtmsg.get_link(spec.host_ifname, missing_ok=True)):
        return AlreadyExists(f"interface {spec.host_ifname!r} already exists")
    where = "the host namespace" if spec.attachment == hostplan.DOCKER else spec.netns
    return AlreadyExists(
        f"interface {spec.ifname!r} already exists in {where} and is not the "
        f"peer of {spec.host_ifname}"
    )


def _delete(host: nlsock.Socket, index: int, ifname: str) -> None:
    # already gone with its namespace, or not removable: the caller's error is the one to see
    with contextlib.suppress(RomanaError):
        host.request(rtmsg.delete_link(index, ifname, missing_ok=False))


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
        rtmsg.add_address(pair.peer_index, pair.ifname, rtmsg.host_iface(a), RT_SCOPE_UNIVERSE)
        for a in spec.addresses
    )
    for gateway in spec.gateways:
        inside.append(rtmsg.default_route(pair.peer_index, pair.ifname, gateway))
        inside.append(rtneigh.neighbour_entry(pair.peer_index, pair.ifname, gateway, pair.host_mac))
    outside: list[Request] = [
        rtmsg.add_address(pair.host_index, pair.host_ifname, rtmsg.host_iface(g), RT_SCOPE_LINK)
        for g in spec.gateways
    ]
    for address in sorted(spec.addresses, key=lambda a: (a.version, int(a))):
        outside.append(rtmsg.host_route(pair.host_index, pair.host_ifname, address))
        outside.append(
            rtneigh.neighbour_entry(pair.host_index, pair.host_ifname, address, pair.mac)
        )
    if spec.attachment != hostplan.DOCKER:  # docker configures the inside itself
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
    body = IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, IFF_UP) + nlsock.string(IFLA_IFNAME, host_ifname)
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
    body = rtmsg.ifinfo() + nlsock.string(IFLA_IFNAME, host_ifname)
    try:
        host.request(Request(RTM_DELLINK, body, f"link del {host_ifname}"))
    except NotFound:
        return False
    return True
