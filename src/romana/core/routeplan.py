"""The routes one host needs to reach every other host's prefixes over the underlay.

Aggregated plan (the default), for host ``X`` in each tree it sits in, per network:

* every other host of ``X``'s leaf group: its host prefix via that host's underlay IP;
* at each level from the leaf up to the root, every sibling group that holds a host: the
  group's aggregate prefix via the group's *designated* host.

The designated host of a leaf is its first host in placement order; of an inner group, the
designated host of its first subgroup (document order) that holds a host. Any choice inside
the group would be correct; this one moves only when the designated host leaves or a group
earlier in the document gets its first host, and it survives export and re-parse because a
leaf's host order is kept in the document.

Why it delivers: a packet for host ``Y`` sent along the plan of host ``C`` either reaches
``Y`` directly (same leaf) or goes to the designated host of the sibling group that holds
``Y``; that host shares a strictly deeper group with ``Y`` than ``C`` did. So every hop
descends one level at least, and a packet arrives in at most (leaf depth + 1) hops — for a
tree of zones and racks, three. The number of routes on a host is the size of its leaf plus
the sibling groups along its path, not the number of hosts.

``aggregate=False`` gives one route per remote host prefix via that host directly (flat
fabrics, or when intermediate hops are not wanted).

``via`` is always the next host's underlay address, whatever the family of ``dst``: an IPv6
network over an IPv4 underlay needs IPv6 routes with an IPv4 gateway (RFC 5549, Linux 5.2+).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from romana.core import addressing, topology


@dataclass(frozen=True, slots=True)
class Route:
    """``dst`` (in ``network``) via ``via``, the underlay address of host ``via_host``.

    ``group`` is the path of the group whose aggregate ``dst`` is; None when ``dst`` is the
    host prefix of ``via_host`` itself.
    """

    network: str
    dst: addressing.IPNetwork
    via: addressing.IPAddress
    via_host: str
    group: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "network": self.network,
            "dst": str(self.dst),
            "via": str(self.via),
            "via_host": self.via_host,
            "group": self.group,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Route:
        return cls(
            str(raw["network"]),
            ipaddress.ip_network(raw["dst"]),
            ipaddress.ip_address(raw["via"]),
            str(raw["via_host"]),
            None if raw.get("group") is None else str(raw["group"]),
        )


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """The host's own prefixes and gateways, and the routes to everyone else's."""

    host: str
    ip: addressing.IPAddress
    aggregate: bool
    prefixes: tuple[topology.HostPrefix, ...]
    routes: tuple[Route, ...]

    def lookup(self, address: addressing.IPAddress | str) -> Route | None:
        """The route a longest-prefix match picks for ``address``; None when none covers it."""
        addr = ipaddress.ip_address(address)
        best: Route | None = None
        for route in self.routes:
            if route.dst.version != addr.version or addr not in route.dst:
                continue
            if best is None or route.dst.prefixlen > best.dst.prefixlen:
                best = route
        return best

    def owns(self, address: addressing.IPAddress | str) -> bool:
        """True when ``address`` lies in one of this host's own prefixes."""
        addr = ipaddress.ip_address(address)
        return any(p.prefix.version == addr.version and addr in p.prefix for p in self.prefixes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "ip": str(self.ip),
            "aggregate": self.aggregate,
            "prefixes": [p.to_dict() for p in self.prefixes],
            "routes": [r.to_dict() for r in self.routes],
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RoutePlan:
        prefixes = tuple(
            topology.HostPrefix(
                str(p["network"]),
                int(p["index"]),
                ipaddress.ip_network(p["prefix"]),
                ipaddress.ip_address(p["gateway"]),
                str(p["group"]),
            )
            for p in raw.get("prefixes", [])
        )
        return cls(
            str(raw["host"]),
            ipaddress.ip_address(raw["ip"]),
            bool(raw.get("aggregate", True)),
            prefixes,
            tuple(Route.from_dict(r) for r in raw.get("routes", [])),
        )


def route_plan(topo: topology.Topology, host_name: str, *, aggregate: bool = True) -> RoutePlan:
    """The route plan of host ``host_name``.

    Raises:
        NotFound: no host has this name.
    """
    host = topo.host(host_name)
    ips = {h.name: h.ip for h in topo.hosts}
    layouts = topo.layouts
    routes: list[Route] = []
    for tree in topo.trees:
        chain = tree.chain(host_name)
        if chain is None:
            continue
        for net in tree.networks:
            lay = layouts[net]
            steps = _aggregated(chain, host_name) if aggregate else _direct(tree, host_name)
            for target, group in steps:
                dst = (
                    topology.host_prefix(lay, target.index)
                    if group is None
                    else topology.group_prefix(lay, tree.topology_bits, group)
                )
                routes.append(
                    Route(
                        net,
                        dst,
                        ips[target.host],
                        target.host,
                        None if group is None else group.path,
                    )
                )
    return RoutePlan(
        host.name,
        host.ip,
        aggregate,
        topology.placement(topo, host_name).prefixes,
        tuple(routes),
    )


def designated(group: topology.Group) -> topology.Member | None:
    """The host that receives traffic for ``group``'s aggregate; None for an empty group."""
    if group.is_leaf:
        return group.members[0] if group.members else None
    for child in group.groups:
        member = designated(child)
        if member is not None:
            return member
    return None


Step = tuple[topology.Member, topology.Group | None]


def _aggregated(chain: tuple[topology.Group, ...], host_name: str) -> Iterator[Step]:
    for member in chain[-1].members:
        if member.host != host_name:
            yield member, None
    # From the leaf's siblings outwards: nearest groups first.
    for depth in range(len(chain) - 1, 0, -1):
        here, parent = chain[depth], chain[depth - 1]
        for sibling in parent.groups:
            if sibling.position == here.position:
                continue
            hop = designated(sibling)
            if hop is not None:
                yield hop, sibling


def _direct(tree: topology.Tree, host_name: str) -> Iterator[Step]:
    for member in tree.root.all_members():
        if member.host != host_name:
            yield member, None


def plans(topo: topology.Topology, *, aggregate: bool = True) -> dict[str, RoutePlan]:
    """Every host's plan, by host name."""
    return {h.name: route_plan(topo, h.name, aggregate=aggregate) for h in topo.hosts}


__all__ = ["Route", "RoutePlan", "designated", "plans", "route_plan"]
