"""Endpoints on a VM's tap device: wire, unwire and list them idempotently.

Nova creates a tap in the host namespace for each port it plugs into a VM (``tap`` + the
first 11 characters of the port id) and the VM's interface sits on its other side. The
device is not ours: nothing here creates, deletes, renames or relabels it, and its MTU stays
what Nova set. On it the agent puts, as on the host side of a veth (:mod:`.veth`):

* the host's gateway address of each family the endpoint uses (``/32 scope link``,
  ``/128 nodad``), so the host answers the VM's ARP and neighbour solicitations for its
  router;
* a ``/32`` (``/128``) route to each of the VM's addresses through the tap, tagged with our
  route protocol;
* proxy ARP and strict reverse-path filtering: the VM is told a netmask wider than its
  ``/32`` (DHCP, :mod:`romana.agent.dhcp`), and the host answers its ARP for any other
  address it routes elsewhere, so every packet of the VM goes through the host's routes; a
  packet from an address the VM did not get is dropped on the way in.
* for an endpoint with an IPv6 address, IPv6 enabled on the tap with a link-local address
  (``disable_ipv6`` 0; ``addr_gen_mode`` none turned to eui64): the host advertises itself
  as the VM's router from it (:mod:`romana.agent.dhcp6`).

The VM's MAC is not known here, so no permanent neighbour entry is made: the host resolves
the VM's address with ordinary ARP (the VM is up long before it has an address to answer).

Invariants: :func:`ensure` converges from any state of the tap and changes nothing when all
is in place; :func:`unwire` takes off exactly the addresses and our routes and leaves the
device; both refuse names that are not tap names; :func:`listed` reports every tap present.
"""

from __future__ import annotations

from collections.abc import Iterable

from romana.core import hostdiff, hostplan
from romana.core.errors import InvalidInput, Issue, NotFound
from romana.dataplane import rtmsg, sysctl
from romana.dataplane.rtmsg import ROUTE_PROTOCOL, RT_SCOPE_LINK, Link, Route, host_iface
from romana.dataplane.rtnl import Rtnl
from romana.dataplane.veth import Attached


def _checked(name: str) -> str:
    if not hostplan.is_tap_ifname(name):
        raise InvalidInput([Issue("ifname", f"{name!r} is not a tap name")])
    return name


def _link_local_sysctls(name: str, netns: str | None) -> list[hostplan.Sysctl]:
    """IPv6 on and a link-local address generated on the tap: the VM's router
    advertisements come from it (:mod:`romana.agent.dhcp6`). The kernel makes the address at
    once when either sysctl changes on a device that is up."""
    found = [hostplan.Sysctl(f"net.ipv6.conf.{name}.disable_ipv6", "0")]
    mode = f"net.ipv6.conf.{name}.addr_gen_mode"
    if sysctl.read(mode, netns=netns) == "1":  # none; the other modes (eui64, stable) make one
        found.append(hostplan.Sysctl(mode, "0"))
    return found


def ensure(host: Rtnl, spec: hostplan.EndpointSpec) -> Attached:
    """Wire the tap ``spec.ifname`` for ``spec``; NotFound when the device is not there."""
    problems = hostplan.endpoint_issues(spec)
    if problems:
        raise InvalidInput(problems, context="endpoint")
    name = _checked(spec.ifname)
    link = host.link(name)
    if link is None:
        raise NotFound(f"tap {name} does not exist")
    if not link.up:
        host.set_link(link, up=True)
    wanted_sysctls = [
        hostplan.Sysctl(f"net.ipv4.conf.{name}.proxy_arp", "1"),
        # Answer at once: the default delays a proxied reply by up to 0.8 s, which a VM's
        # first packet to every new destination would wait.
        hostplan.Sysctl(f"net.ipv4.neigh.{name}.proxy_delay", "0"),
        hostplan.Sysctl(f"net.ipv4.conf.{name}.rp_filter", "1"),
    ]
    if any(a.version == 6 for a in spec.addresses):
        wanted_sysctls += _link_local_sysctls(name, host.netns)
    sysctl.ensure(wanted_sysctls, netns=host.netns)
    host.ensure_addresses(link, (host_iface(gw) for gw in spec.gateways), RT_SCOPE_LINK)
    wanted = {host_iface(a).network for a in spec.addresses}
    for route in host.routes(proto=ROUTE_PROTOCOL, oif=link.index):
        if route.gateway is None and route.dst not in wanted:
            host.delete_route(route)
    requests = [
        rtmsg.host_route(link.index, name, dst.network_address)
        for dst in sorted(wanted, key=lambda n: (n.version, int(n.network_address)))
    ]
    if requests:
        host.send(*requests)
    return Attached(name, link.mac, name, "", "")


def unwire(host: Rtnl, name: str) -> bool:
    """Take our routes and the gateway addresses off the tap ``name``; False when the
    device is gone (the kernel took its routes and addresses with it)."""
    link = host.link(_checked(name))
    if link is None:
        return False
    for route in host.routes(proto=ROUTE_PROTOCOL, oif=link.index):
        if route.gateway is None:
            host.delete_route(route)
    # Nova puts no address on a tap: every one on it (IPv6 link-local aside) is a gateway.
    host.ensure_addresses(link, (), RT_SCOPE_LINK)
    return True


def present(host: Rtnl) -> dict[str, int]:
    """The taps in ``host``'s namespace: name → interface index (a tap deleted and made again
    under its name has a new index)."""
    return {link.ifname: link.index for link in host.links() if hostplan.is_tap_ifname(link.ifname)}


def listed(links: Iterable[Link], routes: Iterable[Route]) -> tuple[hostdiff.CurrentEndpoint, ...]:
    """Every tap among ``links``, with the addresses our host routes send to it."""
    by_oif: dict[int, set[hostplan.IPAddress]] = {}
    for route in routes:
        host = route.dst.prefixlen == route.dst.max_prefixlen
        if route.proto == ROUTE_PROTOCOL and route.gateway is None and host:
            by_oif.setdefault(route.oif, set()).add(route.dst.network_address)
    return tuple(
        hostdiff.CurrentEndpoint(
            id="",
            host_ifname=link.ifname,
            addresses=frozenset(by_oif.get(link.index, ())),
            mtu=link.mtu,
            up=link.up,
            attachment=hostplan.TAP,
        )
        for link in sorted(links, key=lambda link: link.ifname)
        if hostplan.is_tap_ifname(link.ifname)
    )
