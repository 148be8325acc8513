"""The host's routing dataplane over netlink: gateway, sysctls, routes and endpoints.

:class:`Netlink` is what the agent drives. It works on one network namespace: the current
one (the agent of a host runs inside that host's namespace) or the one at ``netns``.
Every operation states an end result and may be repeated at any time ("ensure"): errnos
that mean the result is already there (EEXIST on add, ENOENT/ESRCH/ENODEV on delete) are
success, and every other kernel error becomes a :mod:`romana.core.errors` type, chained.

What we own here, and therefore the only things ever changed or deleted:

* the gateway interface ``romana-gw``: a ``dummy`` device where the kernel has one,
  otherwise a bridge without ports (learned once per process), holding exactly the
  gateway addresses of the plan;
* routes tagged with :data:`ROUTE_PROTOCOL` (82) in the main table: routes to other
  hosts' prefixes (``via`` a next hop) and endpoint host routes (``dev`` a host veth).
  A route that is not ours with the same destination and metric is never replaced:
  :meth:`Netlink.ensure_routes` reports it as ``AlreadyExists``;
* host veths named by :func:`romana.core.hostplan.host_ifname` (see
  :mod:`romana.dataplane.veth`); of a docker endpoint only the host veth is ever repaired,
  its peer being in docker's hands;
* on a VM's tap (Nova's device, never created or deleted here), the gateway addresses and
  our routes (see :mod:`romana.dataplane.tap`);
* proxy neighbour entries inside the external pools the caller names (``proxy_ranges``),
  on any device; entries outside them are never read for a decision, changed or deleted.
* VIPs: full-length addresses (``/32``, ``/128``) inside the ranges the caller names, on
  the interface it names (the underlay), each with a lifetime of a few seconds that the
  holder keeps renewing, so the kernel removes a VIP by itself once its agent stops.

:meth:`Netlink.current` reads exactly those objects back, for
:func:`romana.core.hostdiff.diff`; :meth:`Netlink.apply` carries out one resulting operation.
Calls block: a request takes well under a millisecond, adding an endpoint about 6 ms
(IPv4) to 9 ms (dual stack) and removing one about 20 ms, most of it the kernel's veth
teardown (measured on the 2-core lab machine). Create and use the object on one thread at a
time, such as a single-thread executor (see :mod:`romana.dataplane.rtnl`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from romana.core import hostdiff, hostplan
from romana.core.errors import AlreadyExists, InvalidInput, Issue, NotFound, Unsupported
from romana.dataplane import announce, rtmsg, sysctl, tap, veth
from romana.dataplane.nlsock import NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, Closing
from romana.dataplane.rtmsg import (
    DEFAULT_PRIORITY,
    INFINITY_LIFE_TIME,
    ROUTE_PROTOCOL,
    RT_SCOPE_NOWHERE,
    RT_SCOPE_UNIVERSE,
    IPAddress,
    IPNetwork,
    Link,
    Route,
)
from romana.dataplane.rtnl import Rtnl

__all__ = ["GATEWAY_KINDS", "ROUTE_PROTOCOL", "Netlink"]

GATEWAY_KINDS = ("dummy", "bridge")


class Netlink(Closing):
    """Route-netlink operations on one network namespace (``None``: the current one)."""

    # The device kind the kernel accepts for the gateway; a kernel fact, learned once.
    gateway_kind: ClassVar[str | None] = None

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns
        self.rtnl = Rtnl(netns)

    def close(self) -> None:
        self.rtnl.close()

    # --- gateway and sysctls -------------------------------------------------------------

    def _create_gateway(self, ifname: str) -> None:
        kinds = GATEWAY_KINDS if Netlink.gateway_kind is None else (Netlink.gateway_kind,)
        for kind in kinds:
            try:
                self.rtnl.send(rtmsg.add_link(ifname, kind))
            except Unsupported:
                continue
            Netlink.gateway_kind = kind
            return
        raise Unsupported(f"the kernel supports none of {', '.join(GATEWAY_KINDS)} for {ifname}")

    def ensure_gateway(self, spec: hostplan.GatewaySpec) -> bool:
        """The gateway interface exists, is up and holds exactly ``spec.addresses``."""
        link = self.rtnl.link(spec.ifname)
        created = link is None
        if link is None:
            self._create_gateway(spec.ifname)
            link = self.rtnl.link(spec.ifname)
            assert link is not None
        elif link.kind not in GATEWAY_KINDS:
            raise AlreadyExists(
                f"{spec.ifname} exists as a {link.kind or 'plain'} device, "
                f"not one of {', '.join(GATEWAY_KINDS)}"
            )
        changed = self.rtnl.ensure_addresses(link, spec.addresses, RT_SCOPE_UNIVERSE)
        if not link.up:
            self.rtnl.set_link(link, up=True)
        return created or changed or not link.up

    def gateway(self, ifname: str = hostplan.GATEWAY_IFNAME) -> hostdiff.CurrentGateway | None:
        link = self.rtnl.link(ifname)
        return None if link is None else self._gateway_state(link)

    def _gateway_state(self, link: Link) -> hostdiff.CurrentGateway:
        addresses = frozenset(
            iface for iface, scope in self.rtnl.addresses(link.index) if scope == RT_SCOPE_UNIVERSE
        )
        return hostdiff.CurrentGateway(addresses, link.up)

    def ensure_sysctls(self, sysctls: Iterable[hostplan.Sysctl]) -> tuple[str, ...]:
        """See :func:`romana.dataplane.sysctl.ensure`; returns the keys that changed."""
        return sysctl.ensure(sysctls, netns=self.netns)

    def underlay_mtu(self, toward: hostplan.IPAddress) -> int:
        """The MTU of the interface that carries the route to ``toward`` (a peer host)."""
        oif = self.rtnl.route_oif(toward)
        link = self.rtnl.link_by_index(oif) if oif else None
        if link is None:
            raise NotFound(f"no route to {toward}")
        return link.mtu

    # --- endpoints -----------------------------------------------------------------------

    def ensure_endpoint(self, spec: hostplan.EndpointSpec) -> veth.Attached:
        if spec.attachment == hostplan.TAP:
            return tap.ensure(self.rtnl, spec)
        if spec.attachment == hostplan.DOCKER:
            return veth.ensure_host_end(self.rtnl, spec)
        return veth.ensure(self.rtnl, spec)

    def remove_endpoint(self, host_ifname: str) -> bool:
        """Delete an endpoint's veth, or unwire a tap (a tap is never deleted)."""
        if hostplan.is_tap_ifname(host_ifname):
            return tap.unwire(self.rtnl, host_ifname)
        return veth.remove(self.rtnl, host_ifname)

    def endpoints(self) -> tuple[hostdiff.CurrentEndpoint, ...]:
        links, ours = self.rtnl.links(), self.rtnl.routes(proto=ROUTE_PROTOCOL)
        return veth.listed(links, ours) + tap.listed(links, ours)

    # --- routes to other hosts -----------------------------------------------------------

    def _route_spec(self, route: Route, names: dict[int, str]) -> hostplan.RouteSpec:
        assert route.gateway is not None
        return hostplan.RouteSpec(route.dst, route.gateway, names.get(route.oif))

    def routes(self) -> tuple[hostplan.RouteSpec, ...]:
        """Our routes to other hosts' prefixes (those with a next hop)."""
        names = {link.index: link.ifname for link in self.rtnl.links()}
        return tuple(
            self._route_spec(r, names)
            for r in self.rtnl.routes(proto=ROUTE_PROTOCOL)
            if r.gateway is not None
        )

    def ensure_routes(self, routes: Iterable[hostplan.RouteSpec]) -> int:
        """Add or replace each route; return how many changed.

        Routes that are not ours and hold the same destination and metric are left alone
        and reported together, after the others were ensured, as ``AlreadyExists``.
        """
        wanted = list(routes)
        issues = [i for n, r in enumerate(wanted) for i in hostplan.route_issues(r, f"routes[{n}]")]
        if issues:
            raise InvalidInput(issues)
        ours = {
            r.dst: r
            for r in self.rtnl.routes(proto=ROUTE_PROTOCOL)
            if r.gateway is not None and r.priority == DEFAULT_PRIORITY[r.dst.version]
        }
        indexes = (
            {link.ifname: link.index for link in self.rtnl.links()}
            if any(spec.dev is not None for spec in wanted)
            else {}
        )
        changed, clashes = 0, []
        for spec in wanted:
            oif = None
            if spec.dev is not None:
                if spec.dev not in indexes:
                    raise NotFound(f"route {spec.dst}: device {spec.dev} does not exist")
                oif = indexes[spec.dev]
            seen = ours.get(spec.dst)
            if seen is not None and seen.gateway == spec.via and oif in (None, seen.oif):
                continue
            # "add" refuses (EEXIST) when a route that is not ours holds the same
            # destination and metric; "replace" is only ever aimed at one of ours
            command = "add" if seen is None else "replace"
            flags = NLM_F_CREATE | (NLM_F_EXCL if seen is None else NLM_F_REPLACE)
            request = rtmsg.route_request(
                rtmsg.RTM_NEWROUTE,
                flags,
                f"route {command} {spec.dst} via {spec.via}",
                spec.dst,
                gateway=spec.via,
                oif=oif or 0,
            )
            try:
                self.rtnl.send(request)
            except AlreadyExists:
                clashes.append(str(spec.dst))
                continue
            changed += 1
        if clashes:
            raise AlreadyExists(f"routes to {', '.join(clashes)} exist and are not ours")
        return changed

    def delete_route(self, route: hostplan.RouteSpec) -> bool:
        """Delete our route to ``route.dst``; False when there was none.

        The request names our protocol, so the kernel refuses to delete anyone else's.
        """
        request = rtmsg.route_request(
            rtmsg.RTM_DELROUTE,
            0,
            f"route del {route.dst}",
            route.dst,
            scope=RT_SCOPE_NOWHERE,  # any scope: the protocol says the route is ours
            priority=DEFAULT_PRIORITY[route.dst.version],
        )
        try:
            self.rtnl.send(request)
        except NotFound:
            return False
        return True

    # --- proxy neighbour entries --------------------------------------------------------

    def proxies(
        self, ranges: Sequence[hostplan.IPNetwork], names: dict[int, str] | None = None
    ) -> tuple[hostplan.ProxySpec, ...]:
        """The proxy entries inside ``ranges`` (ours), on any device, by address."""
        if not ranges:
            return ()
        if names is None:
            names = {link.index: link.ifname for link in self.rtnl.links()}
        found = {
            hostplan.ProxySpec(address, names[index])
            for index, address in self.rtnl.proxies()
            if index in names
            and any(address.version == net.version and address in net for net in ranges)
        }
        return tuple(sorted(found, key=lambda p: (p.address.version, int(p.address), p.dev)))

    def ensure_proxy(self, proxy: hostplan.ProxySpec) -> None:
        """The host answers for ``proxy.address`` on ``proxy.dev`` (NotFound: no such dev)."""
        link = self.rtnl.link(proxy.dev)
        if link is None:
            raise NotFound(f"proxy {proxy.address}: device {proxy.dev} does not exist")
        self.rtnl.add_proxy(link, proxy.address)

    def delete_proxy(self, proxy: hostplan.ProxySpec) -> None:
        """Delete the proxy entry; one that is gone, or whose device is, is fine."""
        link = self.rtnl.link(proxy.dev)
        if link is not None:
            self.rtnl.delete_proxy(link.index, link.ifname, proxy.address)

    # --- VIPs ---------------------------------------------------------------------------

    def hold_vip(self, address: IPAddress, ifname: str, lifetime: int) -> bool:
        """``address/32`` (``/128``, no DAD, no prefix route) on ``ifname`` for ``lifetime``
        seconds, valid and preferred, after which the kernel removes it by itself; held
        already, its lifetime starts again. True when it was not there before. NotFound:
        no such interface."""
        if (
            isinstance(lifetime, bool)
            or not isinstance(lifetime, int)
            or not (1 <= lifetime < INFINITY_LIFE_TIME)
        ):
            rule = f"must be whole seconds from 1 to {INFINITY_LIFE_TIME - 1}, not {lifetime!r}"
            raise InvalidInput([Issue("lifetime", rule)])
        link = self.rtnl.link(ifname)
        if link is None:
            raise NotFound(f"VIP {address}: interface {ifname} does not exist")
        iface = rtmsg.host_iface(address)
        try:
            self.rtnl.send(rtmsg.hold_address(link.index, ifname, iface, lifetime, replace=False))
        except AlreadyExists:
            self.rtnl.send(rtmsg.hold_address(link.index, ifname, iface, lifetime, replace=True))
            return False
        return True

    def drop_vip(self, address: IPAddress, ifname: str) -> None:
        """Remove ``address/32`` (``/128``) from ``ifname`` now; gone already (or the
        interface with it) is fine."""
        link = self.rtnl.link(ifname)
        if link is not None:
            self.rtnl.send(rtmsg.delete_address(link.index, ifname, rtmsg.host_iface(address)))

    def held_vips(self, ifname: str, ranges: Sequence[IPNetwork]) -> tuple[IPAddress, ...]:
        """The full-length addresses on ``ifname`` inside ``ranges`` (the VIPs held here),
        by family and value; none when the interface does not exist."""
        link = self.rtnl.link(ifname) if ranges else None
        if link is None:
            return ()
        found = {
            iface.ip
            for iface, _ in self.rtnl.addresses(link.index)
            if iface.network.prefixlen == iface.max_prefixlen
            and any(iface.version == net.version and iface.ip in net for net in ranges)
        }
        return tuple(sorted(found, key=lambda a: (a.version, int(a))))

    def announce(self, address: IPAddress, ifname: str) -> None:
        """Tell the layer 2 of ``ifname`` that ``address`` is at its MAC now (see
        :mod:`romana.dataplane.announce`). NotFound: no such interface; Unavailable: it
        is down; Unsupported: it has no Ethernet address."""
        link = self.rtnl.link(ifname)
        if link is None:
            raise NotFound(f"VIP {address}: interface {ifname} does not exist")
        if len(link.mac) != len("aa:bb:cc:dd:ee:ff"):
            raise Unsupported(f"VIP {address}: interface {ifname} has no Ethernet address")
        announce.send(self.netns, ifname, announce.frames(address, link.mac))

    # --- the whole host ------------------------------------------------------------------

    def current(
        self,
        gateway_ifname: str = hostplan.GATEWAY_IFNAME,
        *,
        proxy_ranges: Sequence[hostplan.IPNetwork] = (),
    ) -> hostdiff.CurrentHost:
        """Everything of ours in this namespace, as :func:`hostdiff.diff` expects it; the
        proxy entries of ours are those inside ``proxy_ranges`` (the plan's)."""
        links = self.rtnl.links()
        ours = self.rtnl.routes(proto=ROUTE_PROTOCOL)
        names = {link.index: link.ifname for link in links}
        gw = next((link for link in links if link.ifname == gateway_ifname), None)
        return hostdiff.CurrentHost(
            gateway=None if gw is None else self._gateway_state(gw),
            routes=tuple(self._route_spec(r, names) for r in ours if r.gateway is not None),
            endpoints=veth.listed(links, ours) + tap.listed(links, ours),
            proxies=self.proxies(proxy_ranges, names),
        )

    def apply(self, op: hostdiff.Operation) -> None:
        """Carry out one operation of :func:`hostdiff.diff`."""
        match op:
            case hostdiff.EnsureGateway(gateway=spec):
                self.ensure_gateway(spec)
            case hostdiff.AddRoute(route=route) | hostdiff.ReplaceRoute(route=route):
                self.ensure_routes([route])
            case hostdiff.DeleteRoute(route=route):
                self.delete_route(route)
            case hostdiff.AddEndpoint(endpoint=spec) | hostdiff.RepairEndpoint(endpoint=spec):
                self.ensure_endpoint(spec)
            case hostdiff.DeleteEndpoint(host_ifname=name):
                self.remove_endpoint(name)
            case hostdiff.AddProxy(proxy=proxy):
                self.ensure_proxy(proxy)
            case hostdiff.DeleteProxy(proxy=proxy):
                self.delete_proxy(proxy)
