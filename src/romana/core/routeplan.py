"""The routes one host needs to reach every other host's prefixes over the underlay.

Aggregated plan (the default), for host ``X`` in each tree it sits in, per network:

* every other host of ``X``'s leaf group: its host prefix via that host's underlay address;
* at each level from the leaf up to the root, every sibling group that holds a host: the
  group's aggregate prefix via the group's *designated* host.

Next hops are per family: a route to a prefix of an IPv4 network goes via the next host's
IPv4 underlay address, to one of an IPv6 network via its IPv6 address (``Host.ip6``, or an
IPv6 ``ip``). Linux refuses an IPv6 route with an IPv4 gateway ("IPv6 does not support
RTA_VIA attribute"), so a mixed-family route would never be installed. A host is a
*candidate* next hop for a network when it has an underlay address of the network's family.

The designated host of a leaf is its first candidate in placement order; of an inner group,
the designated host of its first subgroup (document order) that holds a candidate. Any choice
inside the group would be correct; this one moves only when the designated host leaves or a
group earlier in the document gets its first candidate, and it survives export and re-parse
because a leaf's host order is kept in the document.

A prefix with no candidate to carry it — a leaf mate, or every host of a sibling group,
without an address of the family — gets no route; it is listed in ``RoutePlan.skipped`` with
the reason, so the agent can report it. A host that is no candidate itself gets no route of
that family at all (nobody could route the answers back to it). Endpoints of such a host
reach each other in that family only inside the host.

Why it delivers: a packet for host ``Y`` sent along the plan of host ``C`` either reaches
``Y`` directly (same leaf) or goes to the designated host of the sibling group that holds
``Y``; that host shares a strictly deeper group with ``Y`` than ``C`` did. So every hop
descends one level at least, and a packet arrives in at most (leaf depth + 1) hops — for a
tree of zones and racks, three. The number of routes on a host is the size of its leaf plus
the sibling groups along its path, not the number of hosts.

A tree in ``bgp`` route mode (:mod:`romana.core.topology.bgp`) gives its hosts no routes
here: each host's BIRD announces its prefixes and learns the others' from the fabric
(:mod:`romana.core.bgpplan`); its own prefixes are in the plan as ever.

``aggregate=False`` gives one route per remote host prefix via that host directly (flat
fabrics, or when intermediate hops are not wanted).

Every route's ``via`` is of the family of its ``dst``.

The host routes of addresses that live elsewhere than their prefix says (moved addresses,
external addresses) are added to a plan by :mod:`romana.core.hostroutes`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Container, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from romana.core import addressing, records, topology
from romana.core.identifiers import HostName, NetworkName
from romana.core.topology import bgp


@dataclass(frozen=True, slots=True)
class Route:
    """``dst`` (in ``network``) via ``via``, the underlay address of host ``via_host``.

    ``group`` is the path of the group whose aggregate ``dst`` is; None when ``dst`` is the
    host prefix of ``via_host`` itself.
    """

    network: NetworkName
    dst: addressing.IPNetwork
    via: addressing.IPAddress
    via_host: HostName
    group: str | None = None
    moved_from: HostName | None = None
    """For an exception route: the host ``dst`` encodes, which it has moved away from."""
    pool: str | None = None
    """For an external address's route: its pool (``network`` is then the pool's name)."""

    def to_dict(self) -> dict[str, Any]:
        return records.fields_dict(self, {"dst": str, "via": str})

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Route:
        return cls(
            NetworkName(str(raw["network"])),
            ipaddress.ip_network(raw["dst"]),
            ipaddress.ip_address(raw["via"]),
            HostName(str(raw["via_host"])),
            None if raw.get("group") is None else str(raw["group"]),
            None if raw.get("moved_from") is None else HostName(str(raw["moved_from"])),
            None if raw.get("pool") is None else str(raw["pool"]),
        )


@dataclass(frozen=True, slots=True)
class Skipped:
    """A prefix left without a route: ``reason`` says which host or group lacks an address.

    ``host`` is the host whose prefix ``dst`` is, ``group`` the group whose aggregate it is
    (one of the two is None).
    """

    network: NetworkName
    dst: addressing.IPNetwork
    reason: str
    host: HostName | None = None
    group: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return records.fields_dict(self, {"dst": str})

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Skipped:
        return cls(
            NetworkName(str(raw["network"])),
            ipaddress.ip_network(raw["dst"]),
            str(raw["reason"]),
            None if raw.get("host") is None else HostName(str(raw["host"])),
            None if raw.get("group") is None else str(raw["group"]),
        )


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """The host's own prefixes and gateways, the routes to everyone else's, and the prefixes
    no route can reach (``skipped``)."""

    host: HostName
    ip: addressing.IPAddress
    aggregate: bool
    prefixes: tuple[topology.HostPrefix, ...]
    routes: tuple[Route, ...]
    ip6: addressing.IPAddress | None = None
    skipped: tuple[Skipped, ...] = ()
    moved_here: tuple[addressing.IPAddress, ...] = ()
    """Addresses of other hosts' prefixes that live on this host: routed to their endpoints."""

    def lookup(self, address: addressing.IPAddress | str) -> Route | None:
        """The route a longest-prefix match picks for ``address``; None when none covers it
        or when it lives on this host."""
        addr = ipaddress.ip_address(address)
        if addr in self.moved_here:
            return None
        best: Route | None = None
        for route in self.routes:
            if route.dst.version != addr.version or addr not in route.dst:
                continue
            if best is None or route.dst.prefixlen > best.dst.prefixlen:
                best = route
        return best

    def owns(self, address: addressing.IPAddress | str) -> bool:
        """True when ``address`` lies in one of this host's own prefixes and has not moved
        away, or has moved here."""
        addr = ipaddress.ip_address(address)
        if addr in self.moved_here:
            return True
        if any(r.moved_from is not None and r.dst.network_address == addr for r in self.routes):
            return False
        return any(p.prefix.version == addr.version and addr in p.prefix for p in self.prefixes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "ip": str(self.ip),
            "ip6": None if self.ip6 is None else str(self.ip6),
            "aggregate": self.aggregate,
            "prefixes": [p.to_dict() for p in self.prefixes],
            "routes": [r.to_dict() for r in self.routes],
            "skipped": [x.to_dict() for x in self.skipped],
            "moved_here": [str(a) for a in self.moved_here],
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RoutePlan:
        prefixes = tuple(
            topology.HostPrefix(
                NetworkName(str(p["network"])),
                int(p["index"]),
                ipaddress.ip_network(p["prefix"]),
                ipaddress.ip_address(p["gateway"]),
                str(p["group"]),
            )
            for p in raw.get("prefixes", [])
        )
        return cls(
            HostName(str(raw["host"])),
            ipaddress.ip_address(raw["ip"]),
            bool(raw.get("aggregate", True)),
            prefixes,
            tuple(Route.from_dict(r) for r in raw.get("routes", [])),
            None if raw.get("ip6") is None else ipaddress.ip_address(raw["ip6"]),
            tuple(Skipped.from_dict(x) for x in raw.get("skipped", [])),
            tuple(ipaddress.ip_address(a) for a in raw.get("moved_here", [])),
        )


def route_plan(
    topo: topology.Topology, host_name: HostName, *, aggregate: bool = True
) -> RoutePlan:
    """The route plan of host ``host_name``.

    Raises:
        NotFound: no host has this name.
    """
    host = topo.host(host_name)
    hops = {
        version: {h.name: a for h in topo.hosts if (a := h.address(version)) is not None}
        for version in (4, 6)
    }
    layouts = topo.layouts
    routes: list[Route] = []
    skipped: list[Skipped] = []
    for tree in topo.trees:
        chain = tree.chain(host_name)
        if chain is None or tree.route_mode == bgp.BGP:
            continue  # in bgp mode, BIRD learns the routes (:mod:`romana.core.bgpplan`)
        for net in tree.networks:
            lay = layouts[net]
            via = hops[lay.version]
            steps = _aggregated(chain, host_name, via) if aggregate else _direct(tree, host_name)
            for target, group in steps:
                if group is None:
                    dst = topology.host_prefix(lay, target.index)
                else:
                    dst = topology.group_prefix(lay, tree.topology_bits, group)
                hop = via.get(target.host)
                if host_name not in via or hop is None:
                    skipped.append(_skipped(net, dst, lay.version, host_name, target, group, via))
                    continue
                path = None if group is None else group.path
                routes.append(Route(net, dst, hop, target.host, path))
    return RoutePlan(
        host.name,
        host.ip,
        aggregate,
        topology.placement(topo, host_name).prefixes,
        tuple(routes),
        host.ip6,
        tuple(skipped),
    )


def _skipped(
    net: NetworkName,
    dst: addressing.IPNetwork,
    version: int,
    host_name: HostName,
    target: topology.Member,
    group: topology.Group | None,
    candidates: Container[str],
) -> Skipped:
    if host_name not in candidates:
        # Others have no route back to this host's prefix in this family either.
        reason = f"this host {host_name} has no IPv{version} underlay address"
    elif group is None:
        reason = f"host {target.host} has no IPv{version} underlay address"
    else:
        reason = f"no host of group {group.path} has an IPv{version} underlay address"
    if group is None:
        return Skipped(net, dst, reason, host=target.host)
    return Skipped(net, dst, reason, group=group.path)


def designated(
    group: topology.Group, candidates: Container[str] | None = None
) -> topology.Member | None:
    """The host that receives traffic for ``group``'s aggregate; None for an empty group.

    ``candidates`` limits the choice to these host names (the hosts with an underlay address
    of the network's family); None admits every host.
    """
    if group.is_leaf:
        return next((m for m in group.members if candidates is None or m.host in candidates), None)
    for child in group.groups:
        member = designated(child, candidates)
        if member is not None:
            return member
    return None


Step = tuple[topology.Member, topology.Group | None]
"""A next host and the group it stands for (None: the host's own prefix)."""


def _aggregated(
    chain: tuple[topology.Group, ...], host_name: HostName, candidates: Container[str]
) -> Iterator[Step]:
    for member in chain[-1].members:
        if member.host != host_name:
            yield member, None
    # From the leaf's siblings outwards: nearest groups first.
    for depth in range(len(chain) - 1, 0, -1):
        here, parent = chain[depth], chain[depth - 1]
        for sibling in parent.groups:
            if sibling.position == here.position:
                continue
            # A group with hosts but no candidate still gets a step, to be reported.
            hop = designated(sibling, candidates) or designated(sibling)
            if hop is not None:
                yield hop, sibling


def _direct(tree: topology.Tree, host_name: HostName) -> Iterator[Step]:
    for member in tree.root.all_members():
        if member.host != host_name:
            yield member, None


def plans(topo: topology.Topology, *, aggregate: bool = True) -> dict[str, RoutePlan]:
    """Every host's plan, by host name."""
    return {h.name: route_plan(topo, h.name, aggregate=aggregate) for h in topo.hosts}


__all__ = [
    "Route",
    "RoutePlan",
    "Skipped",
    "designated",
    "plans",
    "route_plan",
]
