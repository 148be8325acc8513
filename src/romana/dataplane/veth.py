"""Endpoints as veth pairs: create, repair, inspect and remove them idempotently.

One endpoint is a veth pair. The host side lives in the host namespace, is named
``hostplan.host_ifname(id)`` and carries the endpoint id in its alias; the peer is created
directly inside the workload namespace under the requested name (``eth0``). Inside: the
endpoint's ``/32`` (``/128``) addresses and ``default via <gateway> onlink`` per family. On
the host: a ``/32`` (``/128``) route to each address through the host veth, tagged with our
route protocol.

How the endpoint reaches its gateway (machine-lab §2): the gateway address is also put on
the host veth (``/32 scope link``, ``/128 nodad``), so the host answers ARP and neighbour
solicitation for it on that link; proxy ARP alone is not enough. Both sides also get a
permanent neighbour entry for the other's address, because a fresh veth ignores neighbour
discovery until the kernel's link watcher marks it ready (up to a second later): without the
entries the first packets of a new workload are lost. The host veth gets strict reverse-path
filtering so an endpoint cannot send from another endpoint's address (the address is the
tenant); note that ``net.ipv4.conf.all.rp_filter=2`` on the host overrides it to loose.

:func:`inside_problems` reads the workload side back (CNI CHECK and the reconcile).
:func:`ensure_host_end` converges the host side alone, for a docker endpoint whose workload
end docker moved into its sandbox and renamed: it never creates a pair.

Invariants: :func:`ensure` converges from any partial state (nothing, a half-made pair, a
host veth whose peer went elsewhere) and changes nothing when all is in place; :func:`remove`
only deletes names :func:`hostplan.is_host_ifname` accepts and succeeds when the veth, or the
whole workload namespace, is already gone (the kernel removes the pair, its routes and
neighbour entries with either end).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from romana.core import hostdiff, hostplan
from romana.core.errors import AlreadyExists, InvalidInput, Issue, NotFound
from romana.dataplane import netns as netns_mod
from romana.dataplane import rtmsg, sysctl
from romana.dataplane.rtmsg import (
    ROUTE_PROTOCOL,
    RT_SCOPE_LINK,
    RT_SCOPE_UNIVERSE,
    Link,
    Route,
    host_iface,
    host_route,
)
from romana.dataplane.rtneigh import neighbour_entry
from romana.dataplane.rtnl import Rtnl


@dataclass(frozen=True, slots=True)
class Attached:
    """What a runtime needs back from an endpoint: both interface names and MACs."""

    host_ifname: str
    host_mac: str
    ifname: str
    mac: str
    netns: str


def _paired(host: Link, peer: Link | None) -> bool:
    return (
        peer is not None
        and peer.kind == "veth"
        and host.kind == "veth"
        and peer.peer_index == host.index
        and host.peer_index == peer.index
    )


def _create_pair(host: Rtnl, spec: hostplan.EndpointSpec) -> None:
    fd = netns_mod.open_netns(spec.netns)
    try:
        host.send(rtmsg.create_veth(spec.host_ifname, spec.ifname, spec.mtu, spec.mac, fd))
    except AlreadyExists as exc:
        raise AlreadyExists(
            f"interface {spec.ifname!r} already exists in {spec.netns} and is not the "
            f"peer of {spec.host_ifname}"
        ) from exc
    finally:
        os.close(fd)


def _inside(
    inner: Rtnl, peer: Link, spec: hostplan.EndpointSpec, host_mac: str, fresh: bool
) -> Link:
    """Addresses, link state, default routes and gateway neighbours inside the workload."""
    new_mac = spec.mac is not None and spec.mac.lower() != peer.mac
    inner.set_link(peer, up=True, mtu=spec.mtu, mac=spec.mac if new_mac else None)
    wanted = (host_iface(a) for a in spec.addresses)
    inner.ensure_addresses(peer, wanted, RT_SCOPE_UNIVERSE, fresh=fresh)
    requests = []
    for gw in spec.gateways:
        requests.append(rtmsg.default_route(peer.index, spec.ifname, gw))
        requests.append(neighbour_entry(peer.index, spec.ifname, gw, host_mac))
    if requests:
        inner.send(*requests)
    current = inner.link(spec.ifname) if new_mac else peer
    assert current is not None
    return current


def inside_problems(inner: Rtnl, spec: hostplan.EndpointSpec, host_mac: str | None) -> list[str]:
    """What is missing or wrong of what :func:`ensure` puts inside the workload (``inner``):
    the interface and its state, its addresses, the default routes and, given the host
    veth's ``host_mac``, the gateway neighbours. Empty when all is in place.

    CNI CHECK and the reconcile's read-back of the workload side both ask this, so the
    two can never disagree about what a whole endpoint is.
    """
    link = inner.link(spec.ifname)
    if link is None:
        return [f"interface {spec.ifname} is missing in {spec.netns}"]
    problems: list[str] = []
    if not link.up:
        problems.append(f"interface {spec.ifname} in {spec.netns} is down")
    have = {iface.ip for iface, _ in inner.addresses(link.index)}
    problems.extend(
        f"address {address} is missing on {spec.ifname}"
        for address in spec.addresses
        if address not in have
    )
    defaults = {
        (r.dst.version, r.gateway)
        for r in inner.routes()
        if r.dst.prefixlen == 0 and r.oif == link.index
    }
    problems.extend(
        f"default route via {gateway} is missing in {spec.netns}"
        for gateway in spec.gateways
        if (gateway.version, gateway) not in defaults
    )
    if host_mac:
        neighbours = inner.neighbours(link.index)
        problems.extend(
            f"neighbour entry of {gateway} is missing on {spec.ifname}"
            for gateway in spec.gateways
            if neighbours.get(gateway) != host_mac.lower()
        )
    return problems


def _pair(host: Rtnl, inner: Rtnl, spec: hostplan.EndpointSpec) -> tuple[Link, Link, bool]:
    """The host veth and its peer in the workload, created if needed; True if created."""
    link = host.link(spec.host_ifname)
    peer = inner.link(spec.ifname)
    if link is not None and _paired(link, peer):
        assert peer is not None
        return link, peer, False
    if link is not None:
        # A host veth whose peer is not this namespace's interface is stale (its workload
        # moved or was recreated); the name is ours, so start over.
        host.delete_link(link)
    _create_pair(host, spec)
    link, peer = host.link(spec.host_ifname), inner.link(spec.ifname)
    assert link is not None and peer is not None
    return link, peer, True


def ensure(host: Rtnl, spec: hostplan.EndpointSpec) -> Attached:
    """Create or repair the endpoint so that it matches ``spec``; return its interfaces."""
    problems = hostplan.endpoint_issues(spec)
    if problems:
        raise InvalidInput(problems, context="endpoint")
    with Rtnl(spec.netns) as inner:
        link, peer, fresh = _pair(host, inner, spec)
        host.set_link(link, up=True, mtu=spec.mtu, alias=spec.id)
        peer = _inside(inner, peer, spec, link.mac, fresh)
    return _host_side(host, link, spec, peer.mac, fresh)


def ensure_host_end(host: Rtnl, spec: hostplan.EndpointSpec) -> Attached:
    """Repair the host veth of ``spec`` as :func:`ensure` leaves it, its peer wherever it is;
    NotFound when the host veth is gone (it is never created here). The neighbour entries
    name ``spec.mac``, the peer's MAC as recorded when the pair was made (none without it)."""
    problems = hostplan.endpoint_issues(spec)
    if problems:
        raise InvalidInput(problems, context="endpoint")
    link = host.link(spec.host_ifname)
    if link is None or link.kind != "veth":
        raise NotFound(f"host interface {spec.host_ifname} is missing")
    host.set_link(link, up=True, mtu=spec.mtu, alias=spec.id)
    return _host_side(host, link, spec, spec.mac, False)


def _host_side(
    host: Rtnl, link: Link, spec: hostplan.EndpointSpec, peer_mac: str | None, fresh: bool
) -> Attached:
    """Reverse-path filtering, gateway addresses, host routes and neighbours on the host veth."""
    name = spec.host_ifname
    sysctl.ensure([hostplan.Sysctl(f"net.ipv4.conf.{name}.rp_filter", "1")], netns=host.netns)
    gateways = (host_iface(gw) for gw in spec.gateways)
    host.ensure_addresses(link, gateways, RT_SCOPE_LINK, fresh=fresh)
    _ensure_host_routes(host, link, spec.addresses, peer_mac, fresh)
    return Attached(name, link.mac, spec.ifname, peer_mac or "", spec.netns)


def _ensure_host_routes(
    host: Rtnl,
    link: Link,
    addresses: Iterable[hostplan.IPAddress],
    peer_mac: str | None,
    fresh: bool,
) -> None:
    """Our /32 (/128) routes and permanent neighbours (given the peer's MAC) for exactly
    ``addresses``."""
    wanted = {host_iface(a).network for a in addresses}
    if not fresh:
        for route in host.routes(proto=ROUTE_PROTOCOL, oif=link.index):
            if route.gateway is None and route.dst not in wanted:
                host.delete_route(route)
    requests = []
    for dst in sorted(wanted, key=lambda n: (n.version, int(n.network_address))):
        requests.append(host_route(link.index, link.ifname, dst.network_address))
        if peer_mac:
            requests.append(neighbour_entry(link.index, link.ifname, dst.network_address, peer_mac))
    if requests:
        host.send(*requests)


def remove(host: Rtnl, host_ifname: str) -> bool:
    """Delete an endpoint by its host veth name; False when it was already gone."""
    if not hostplan.is_host_ifname(host_ifname):
        raise InvalidInput([Issue("host_ifname", f"{host_ifname!r} is not a name we own")])
    link = host.link(host_ifname)
    if link is None:
        return False
    host.delete_link(link)
    return True


def listed(links: Iterable[Link], routes: Iterable[Route]) -> tuple[hostdiff.CurrentEndpoint, ...]:
    """Our endpoints among ``links``, with the addresses our host routes send to each."""
    by_oif: dict[int, set[hostplan.IPAddress]] = {}
    for route in routes:
        if (
            route.proto == ROUTE_PROTOCOL
            and route.gateway is None
            and (route.dst.prefixlen == route.dst.max_prefixlen)
        ):
            by_oif.setdefault(route.oif, set()).add(route.dst.network_address)
    return tuple(
        hostdiff.CurrentEndpoint(
            id=link.alias,
            host_ifname=link.ifname,
            addresses=frozenset(by_oif.get(link.index, ())),
            mtu=link.mtu,
            up=link.up,
        )
        for link in sorted(links, key=lambda link: link.ifname)
        if link.kind == "veth" and hostplan.is_host_ifname(link.ifname)
    )
