"""Host routes a route plan gains for addresses that live elsewhere than their prefix says.

Exception routes (:func:`with_exceptions`): an address that lives on another host than the
one it encodes (a migrated VM keeps its addresses) gets a host route (``/32``, ``/128``) in
the plan of every host but the one it lives on, directly via that host's underlay address
and marked with ``moved_from``, the host it encodes. Longest-prefix match makes it win over
any prefix or aggregate route, on the origin host too. The host it lives on routes it to its
endpoint like any of its own (``moved_here``): its plan never sends it to the origin host.

External routes (:func:`with_externals`): an external address (``docs/external.md``), which
lies in an operator's pool outside every network, gets a host route in the plan of every host
but the one whose endpoint holds it, via that host's underlay address and marked with its
``pool``. In ``bgp`` route mode the holder's BIRD announces it instead.

Invariants:

* Every route added here is a host route (``/32``, ``/128``) via the underlay address of the
  host the address lives on, of the address's family; longest-prefix match makes it win over
  the plan's prefix and aggregate routes.
* A host never routes to another host an address that lives on it (``moved_here``, or an
  external address its endpoint holds); an address whose route cannot be made (no underlay
  address of its family) is in the plan's ``skipped``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from romana.core import addressing, topology
from romana.core.errors import InvalidInput
from romana.core.identifiers import HostName, NetworkName
from romana.core.routeplan import Route, RoutePlan, Skipped


@dataclass(frozen=True, slots=True)
class Placed:
    """External address ``address`` of pool ``pool``, held by an endpoint on ``host``."""

    address: addressing.IPAddress
    pool: str
    host: HostName


@dataclass(frozen=True, slots=True)
class Moved:
    """The addresses of allocation ``key``, which encode host ``origin`` but live on ``host``."""

    key: str
    host: HostName
    origin: HostName
    addresses: tuple[addressing.IPAddress, ...]


def with_exceptions(plan: RoutePlan, topo: topology.Topology, moved: Iterable[Moved]) -> RoutePlan:
    """``plan`` with an exception route for every moved address (see the module docstring).

    An address of no network of ``topo``, or of a host no longer in it, gets no route; one
    whose host (or this host) has no underlay address of its family is in ``skipped``.
    """
    hosts = {h.name: h for h in topo.hosts}
    here = hosts.get(plan.host)
    routes: list[Route] = []
    skipped: list[Skipped] = []
    local: list[addressing.IPAddress] = []
    for item in sorted(moved, key=lambda m: m.key):
        for addr in item.addresses:
            if item.host == plan.host:
                local.append(addr)
                continue
            target = hosts.get(item.host)
            try:
                net = addressing.find_layout(topo.layouts, addr).name
            except InvalidInput:
                continue
            if target is None or here is None:
                continue
            dst = ipaddress.ip_network(addr)
            hop = target.address(addr.version)
            if hop is None or here.address(addr.version) is None:
                who = item.host if hop is None else plan.host
                reason = f"host {who} has no IPv{addr.version} underlay address"
                skipped.append(Skipped(net, dst, reason, host=item.host))
                continue
            routes.append(Route(net, dst, hop, item.host, None, item.origin))
    return dataclasses.replace(
        plan,
        routes=plan.routes + tuple(routes),
        skipped=plan.skipped + tuple(skipped),
        moved_here=plan.moved_here + tuple(local),
    )


def with_externals(plan: RoutePlan, topo: topology.Topology, placed: Iterable[Placed]) -> RoutePlan:
    """``plan`` with a host route for every external address another host holds, via that
    host's underlay address (see the module docstring). One of a host no longer in ``topo``
    gets no route; one whose host (or this host) has no underlay address of its family is in
    ``skipped``. The host that holds an address routes it to its endpoint itself."""
    hosts = {h.name: h for h in topo.hosts}
    here = hosts.get(plan.host)
    routes: list[Route] = []
    skipped: list[Skipped] = []
    for item in sorted(placed, key=lambda p: (p.address.version, int(p.address))):
        target = hosts.get(item.host)
        if item.host == plan.host or target is None or here is None:
            continue
        dst = ipaddress.ip_network(item.address)
        hop = target.address(item.address.version)
        if hop is None or here.address(item.address.version) is None:
            who = item.host if hop is None else plan.host
            reason = f"host {who} has no IPv{item.address.version} underlay address"
            skipped.append(Skipped(NetworkName(item.pool), dst, reason, host=item.host))
            continue
        routes.append(Route(NetworkName(item.pool), dst, hop, item.host, pool=item.pool))
    return dataclasses.replace(
        plan, routes=plan.routes + tuple(routes), skipped=plan.skipped + tuple(skipped)
    )
