"""The agent's one handle on its host's kernel state: netlink, sysctls and the firewall.

:class:`HostDataplane` composes the dataplane adapters (``romana.dataplane.netlink`` for the
gateway, routes, endpoints and sysctls; ``nftables`` or ``iptables`` for the ruleset) behind
the few calls the reconciler and the endpoint service make. It is built and used on the
agent's single *writer thread* only (a netlink socket serves one thread at a time, and one
writer per kernel table is the rule); :class:`romana.agent.reconciler.Reconciler`
owns that thread.

Everything touched is ours by name or tag: ``romana-gw``, host veths ``romana<hash>``, routes
with our route protocol, proxy neighbour entries inside the plan's external pools, VIPs
(full-length addresses inside those pools) on the underlay interface, table
``inet romana`` or the ``ROMANA-*`` chains and ``romana*`` sets; on a VM's tap (Nova's
device), only the gateway addresses and our routes (:mod:`romana.dataplane.tap`); of a
docker endpoint, the pair while both ends are in the host namespace and its host veth after
docker took the other end, and inside the container only the rules and the table of
:mod:`romana.dataplane.sourceroutes`. Nothing else is read for a decision or changed.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from romana.core import hostdiff, hostplan, ruleset
from romana.core.errors import AlreadyExists, NotFound, RomanaError
from romana.dataplane import conntrack, netlink, nlsock, rtmsg, rtnl, sourceroutes, veth, wire

log = logging.getLogger(__name__)


class Firewall(Protocol):
    """Applies a whole ruleset atomically and says whether ours is still in place."""

    name: str

    def apply(self, rules: ruleset.Ruleset, current: ruleset.Ruleset | None = None) -> bool:
        """Make ours hold ``rules``; True when part of ours was found missing and put back
        (a drift repaired by this apply, whatever asked for it)."""
        ...

    def present(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Underlay:
    """The interface that carries this host's traffic to other hosts."""

    ifname: str
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    mtu: int
    address6: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    """The first global IPv6 address (the host's IPv6 underlay address beside an IPv4 one)."""


class HostDataplane:
    """The kernel side of one host, used from the writer thread only."""

    def __init__(self, firewall: Firewall, netns: str | None = None) -> None:
        self.firewall = firewall
        self.netns = netns
        self.netlink = netlink.Netlink(netns)
        self._wire: nlsock.Socket | None = None

    def close(self) -> None:
        self.netlink.close()
        if self._wire is not None:
            self._wire.close()

    # -- host state ------------------------------------------------------------------------

    def current(self, proxy_ranges: Sequence[hostplan.IPNetwork] = ()) -> hostdiff.CurrentHost:
        """Everything of ours on the host side; proxy entries inside ``proxy_ranges`` (the
        plan's external pools) are ours."""
        return self.netlink.current(proxy_ranges=proxy_ranges)

    def apply(self, op: hostdiff.Operation) -> None:
        self.netlink.apply(op)

    def ensure_sysctls(self, sysctls: Sequence[hostplan.Sysctl]) -> tuple[str, ...]:
        return self.netlink.ensure_sysctls(sysctls)

    def underlay(self, ifname: str = "") -> Underlay:
        """The underlay interface (``ifname``, or the one of the default route), its first
        global address and its first global IPv6 address."""
        r = self.netlink.rtnl
        if ifname:
            link = r.link(ifname)
            if link is None:
                raise NotFound(f"underlay interface {ifname!r} does not exist")
        else:
            defaults = [x for x in r.routes() if x.dst.prefixlen == 0 and x.oif]
            if not defaults:
                raise NotFound(
                    "no default route to find the underlay interface by; set --interface"
                )
            found = next((x for x in r.links() if x.index == defaults[0].oif), None)
            if found is None:
                raise NotFound("the default route's interface disappeared; set --interface")
            link = found
        addresses = [
            iface.ip
            for iface, scope in r.addresses(link.index)
            if scope == rtnl.RT_SCOPE_UNIVERSE and not iface.ip.is_link_local
        ]
        address6 = next((a for a in addresses if a.version == 6), None)
        return Underlay(link.ifname, next(iter(addresses), None), link.mtu, address6)

    # -- VIPs ------------------------------------------------------------------------------

    def hold_vip(self, address: hostplan.IPAddress, ifname: str, lifetime: int) -> bool:
        """See :meth:`romana.dataplane.netlink.Netlink.hold_vip`."""
        return self.netlink.hold_vip(address, ifname, lifetime)

    def drop_vip(self, address: hostplan.IPAddress, ifname: str) -> None:
        """See :meth:`romana.dataplane.netlink.Netlink.drop_vip`."""
        self.netlink.drop_vip(address, ifname)

    def held_vips(
        self, ifname: str, ranges: Sequence[hostplan.IPNetwork]
    ) -> tuple[hostplan.IPAddress, ...]:
        """See :meth:`romana.dataplane.netlink.Netlink.held_vips`."""
        return self.netlink.held_vips(ifname, ranges)

    def announce(self, address: hostplan.IPAddress, ifname: str) -> None:
        """See :meth:`romana.dataplane.netlink.Netlink.announce`."""
        self.netlink.announce(address, ifname)

    # -- endpoints -------------------------------------------------------------------------

    def ensure_endpoint(self, spec: hostplan.EndpointSpec) -> veth.Attached:
        """Create or repair an endpoint convergently, from whatever state it is in."""
        return self.netlink.ensure_endpoint(spec)

    def device_exists(self, ifname: str) -> bool:
        """True when ``ifname`` exists in the host namespace (a VM's tap)."""
        return self.netlink.rtnl.link(ifname) is not None

    def interface_exists(self, netns: str, ifname: str) -> bool:
        """True when ``ifname`` exists in the namespace at ``netns`` (NotFound: no netns)."""
        if not os.path.exists(netns):
            raise NotFound(f"network namespace {netns} does not exist")
        with rtnl.Rtnl(netns) as inner:
            return inner.link(ifname) is not None

    def _routing(self) -> nlsock.Socket:
        if self._wire is None:
            self._wire = nlsock.Socket(nlsock.NETLINK_ROUTE, self.netns)
        return self._wire

    def create_pair(self, spec: hostplan.EndpointSpec) -> wire.Pair | None:
        """The veth pair of a new endpoint (see :func:`romana.dataplane.wire.create_pair`);
        None when a veth of this endpoint is left from an earlier attempt, which
        :meth:`ensure_endpoint` then takes over. AlreadyExists: ``ifname`` is taken in the
        workload's namespace."""
        try:
            return wire.create_pair(self._routing(), spec)
        except AlreadyExists:
            with rtnl.Rtnl(spec.netns) as inner:
                if inner.link(spec.ifname) is not None:
                    raise
            return None

    def create_docker_pair(self, spec: hostplan.EndpointSpec) -> wire.Pair:
        """A docker endpoint's pair, both ends in this namespace, after any host veth of its
        id is deleted: its ADD calls this only while no ready record holds the id, so such a
        veth is left from a failed attempt. AlreadyExists: ``ifname`` is taken here."""
        wire.remove(self._routing(), spec.host_ifname)
        return wire.create_pair(self._routing(), spec)

    def address_pair(self, pair: wire.Pair, spec: hostplan.EndpointSpec) -> veth.Attached:
        return wire.address_pair(self._routing(), pair, spec)

    def route_sources(self, spec: hostplan.EndpointSpec) -> bool:
        """Inside a docker endpoint's container, once docker moved its end there and put
        its addresses on it: replies from each address leave through it
        (:mod:`romana.dataplane.sourceroutes`). False while docker has not done so yet;
        NotFound when the host end is gone (the container with it)."""

        def act(
            inner: rtnl.Rtnl, link: rtmsg.Link, present: tuple[hostplan.IPAddress, ...]
        ) -> None:
            sourceroutes.ensure(inner, link, present, spec.gateways)

        return self._in_container(spec, act)

    def container_externals(
        self,
        spec: hostplan.EndpointSpec,
        wanted: Sequence[hostplan.IPAddress],
        pools: Sequence[hostplan.IPNetwork],
    ) -> bool:
        """Inside a docker endpoint's container, once docker moved its end there and put
        its addresses on it: exactly ``wanted`` among the addresses of ``pools`` on it, each
        answering through it (:func:`romana.dataplane.sourceroutes.external_requests`).
        False while docker has not done so yet; NotFound when the host end is gone."""

        def act(inner: rtnl.Rtnl, link: rtmsg.Link, _: tuple[hostplan.IPAddress, ...]) -> None:
            have = sourceroutes.externals_on(inner, link, pools)
            changes = sourceroutes.external_requests(link, have, wanted, spec.gateways)
            if changes:
                inner.send(*changes)

        return self._in_container(spec, act)

    def _in_container(
        self,
        spec: hostplan.EndpointSpec,
        act: Callable[[rtnl.Rtnl, rtmsg.Link, tuple[hostplan.IPAddress, ...]], None],
    ) -> bool:
        """``act`` on the docker endpoint's container end (its link and the addresses docker
        put on it), inside the container's namespace; False while docker has not moved and
        addressed that end yet, NotFound when the host end is gone."""
        host = self.netlink.rtnl.link(spec.host_ifname)
        if host is None:
            raise NotFound(f"host interface {spec.host_ifname} is missing")
        if host.peer_netnsid < 0 or spec.mac is None:
            return False  # the other end is still in this namespace
        path = sourceroutes.namespace_of(self._routing(), host.peer_netnsid)
        if path is None:
            return False
        try:
            with rtnl.Rtnl(path) as inner:
                found = sourceroutes.interface(inner, spec.mac, spec.addresses)
                if found is None:
                    return False
                act(inner, *found)
        except (OSError, NotFound):
            return False  # its last process ended between the lookup and the entry
        return True

    def disconnect_endpoint(self, host_ifname: str) -> bool:
        """Cut the endpoint off at once (its host veth down); False when it is gone."""
        return wire.disconnect(self._routing(), host_ifname)

    def remove_endpoint(self, host_ifname: str) -> bool:
        """Delete the endpoint's veth (its routes and neighbours go with it), or unwire a
        tap; False when it was already gone."""
        if hostplan.is_tap_ifname(host_ifname):
            return self.netlink.remove_endpoint(host_ifname)
        return wire.remove(self._routing(), host_ifname)

    def inspect(self, spec: hostplan.EndpointSpec) -> list[str]:
        """What is missing or wrong about one endpoint; empty when all is in place."""
        problems: list[str] = []
        current = {ep.host_ifname: ep for ep in self.netlink.endpoints()}
        seen = current.get(spec.host_ifname)
        if seen is None:
            return [f"host interface {spec.host_ifname} is missing"]
        for address in spec.addresses:
            if address not in seen.addresses:
                problems.append(f"host route to {address} via {spec.host_ifname} is missing")
        if not seen.up:
            problems.append(f"host interface {spec.host_ifname} is down")
        if spec.attachment == hostplan.TAP:
            return problems  # the inside is the VM's, configured by DHCP
        if not os.path.exists(spec.netns):
            return [*problems, f"network namespace {spec.netns} does not exist"]
        if spec.attachment in hostplan.HANDED_OVER:
            return problems  # docker's: it renamed the workload end and configured it
        link = self.netlink.rtnl.link(spec.host_ifname)
        with rtnl.Rtnl(spec.netns) as inner:
            return [*problems, *veth.inside_problems(inner, spec, link.mac if link else None)]

    def inspect_workload(self, spec: hostplan.EndpointSpec) -> list[str]:
        """What is missing or wrong inside the endpoint's namespace (as CHECK sees it);
        NotFound when the namespace or the host veth is gone (a DEL, or the host-side
        read-back's to repair)."""
        link = self.netlink.rtnl.link(spec.host_ifname)
        if link is None:
            raise NotFound(f"host interface {spec.host_ifname} is missing")
        if spec.attachment in hostplan.HANDED_OVER:
            return []  # the inside is the VM's (DHCP) or docker's (renamed, configured by it)
        if not os.path.exists(spec.netns):
            raise NotFound(f"network namespace {spec.netns} does not exist")
        with rtnl.Rtnl(spec.netns) as inner:
            return veth.inside_problems(inner, spec, link.mac)


class Reaper:
    """Takes away what DEL cut off, on a thread of its own (see ``Reconciler.reap``).

    Deleting a veth pair waits about 20 ms for the kernel, and forgetting an address's flows
    walks the whole conntrack table (about 10 ms); neither holds a lock that adding an
    endpoint needs, so they run beside the writer thread rather than in front of the next
    ADD. It only deletes: host veths by a name we own, conntrack entries of released
    addresses. Sockets are opened on first use, on the reaper's thread.
    """

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns
        self._routing: nlsock.Socket | None = None
        self._conntrack: nlsock.Socket | None = None

    def close(self) -> None:
        for sock in (self._routing, self._conntrack):
            if sock is not None:
                sock.close()

    def remove_endpoint(self, host_ifname: str) -> bool:
        """Delete the endpoint's veth; False when it was already gone."""
        if self._routing is None:
            self._routing = nlsock.Socket(nlsock.NETLINK_ROUTE, self.netns)
        return wire.remove(self._routing, host_ifname)

    def forget_flows(self, addresses: Sequence[hostplan.IPAddress]) -> None:
        """Delete conntrack entries to and from released addresses, so a reused address
        does not inherit the previous workload's flows; best effort: a failure is logged,
        and the address is released all the same."""
        named = ", ".join(map(str, addresses))
        try:
            if self._conntrack is None:
                self._conntrack = nlsock.Socket(nlsock.NETLINK_NETFILTER, self.netns)
            deleted = conntrack.forget(self._conntrack, addresses)
        except (RomanaError, OSError) as exc:
            log.warning("conntrack flows of %s not forgotten: %s", named, exc)
            return
        log.debug("forgot %d conntrack flows of %s", deleted, named)
