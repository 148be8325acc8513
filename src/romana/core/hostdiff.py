"""What one host holds now, and the operations that turn it into its :class:`HostPlan`.

The dataplane adapter reads the kernel into a :class:`CurrentHost`; :func:`diff` compares it
with the desired :class:`~romana.core.hostplan.HostPlan` and returns the operations that make
the host match, in the order they must run (gateway first, then routes, endpoints and proxy
entries; deletes of what is not wanted before adds). No I/O happens here.

Invariants: every operation names only objects a plan names as ours (the gateway interface,
host veths named by :func:`~romana.core.hostplan.host_ifname`, routes of our protocol, proxy
entries inside the plan's ``proxy_ranges``), so applying a diff never touches anything else;
a host already matching its plan gets no operation; a tap or a docker endpoint whose device
is gone is never created again (:data:`~romana.core.hostplan.HANDED_OVER`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from romana.core.hostplan import (
    HANDED_OVER,
    TAP,
    VETH,
    EndpointSpec,
    GatewaySpec,
    HostPlan,
    IPAddress,
    IPInterface,
    IPNetwork,
    ProxySpec,
    RouteSpec,
    inside,
    net_key,
    proxy_key,
)


@dataclass(frozen=True, slots=True)
class CurrentGateway:
    addresses: frozenset[IPInterface]
    up: bool


@dataclass(frozen=True, slots=True)
class CurrentEndpoint:
    """A host veth of ours, seen from the host namespace.

    ``id`` is read back from the interface alias ('' when the alias was lost);
    ``addresses`` are the destinations of our host routes through this veth. A tap
    (``attachment`` :data:`TAP`) is listed whenever its device exists, wired or not; its
    ``id`` is '' (the device is not ours to label).
    """

    id: str
    host_ifname: str
    addresses: frozenset[IPAddress]
    mtu: int
    up: bool
    attachment: str = VETH


@dataclass(frozen=True, slots=True)
class CurrentHost:
    gateway: CurrentGateway | None
    routes: tuple[RouteSpec, ...]
    endpoints: tuple[CurrentEndpoint, ...]
    proxies: tuple[ProxySpec, ...] = ()
    """Proxy neighbour entries inside the plan's ``proxy_ranges`` (ours), on any device."""


# --- operations ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EnsureGateway:
    """Create the gateway interface if missing, bring it up, and make its addresses exactly
    the spec's."""

    gateway: GatewaySpec


@dataclass(frozen=True, slots=True)
class AddRoute:
    """Add our route to another host's prefix (none to that destination is ours yet)."""

    route: RouteSpec


@dataclass(frozen=True, slots=True)
class ReplaceRoute:
    """Replace our route to ``route.dst``, now ``current``, with ``route`` (another next hop
    or device)."""

    route: RouteSpec
    current: RouteSpec


@dataclass(frozen=True, slots=True)
class DeleteRoute:
    """Delete our route to ``route.dst``: the plan no longer routes that destination."""

    route: RouteSpec


@dataclass(frozen=True, slots=True)
class AddEndpoint:
    """Create the endpoint's veth pair, its addresses inside and its host routes."""

    endpoint: EndpointSpec


@dataclass(frozen=True, slots=True)
class RepairEndpoint:
    """The endpoint's veth exists but its host side drifted; ``reasons`` say how."""

    endpoint: EndpointSpec
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DeleteEndpoint:
    """Remove the veth ``host_ifname`` (its peer and host routes go with it), or, for a tap
    name, take our addresses and routes off the tap; ``id`` names the endpoint it served,
    for reports."""

    host_ifname: str
    id: str


@dataclass(frozen=True, slots=True)
class AddProxy:
    """Add the proxy neighbour entry (one that is there already is fine)."""

    proxy: ProxySpec


@dataclass(frozen=True, slots=True)
class DeleteProxy:
    """Delete our proxy neighbour entry: the plan no longer holds it."""

    proxy: ProxySpec


Operation = (
    EnsureGateway
    | AddRoute
    | ReplaceRoute
    | DeleteRoute
    | AddEndpoint
    | RepairEndpoint
    | DeleteEndpoint
    | AddProxy
    | DeleteProxy
)


def diff(current: CurrentHost, desired: HostPlan) -> tuple[Operation, ...]:
    """The operations that turn ``current`` into ``desired``, in the order to apply them.

    Order: the gateway, then endpoint deletions (they free addresses), endpoint additions
    and repairs, route deletions, replacements and additions, proxy entry deletions and
    additions. ``current`` holds only objects we own (a proxy entry outside
    ``desired.proxy_ranges`` is never deleted), so nothing else can appear in the result.
    An empty result means converged.
    """
    ops: list[Operation] = []
    want_gw = frozenset(desired.gateway.addresses)
    if current.gateway is None or current.gateway.addresses != want_gw or not current.gateway.up:
        ops.append(EnsureGateway(desired.gateway))
    ours = [ep for ep in current.endpoints if ep.host_ifname not in desired.busy]
    ops.extend(_endpoint_ops(ours, desired.endpoints))
    ops.extend(_route_ops(current.routes, desired.routes))
    ops.extend(_proxy_ops(current.proxies, desired))
    return tuple(ops)


def _endpoint_ops(
    current: Sequence[CurrentEndpoint], desired: Sequence[EndpointSpec]
) -> list[Operation]:
    have = {ep.host_ifname: ep for ep in current}
    want = {ep.host_ifname: ep for ep in desired}
    deletes: list[Operation] = []
    changes: list[Operation] = []
    for name in sorted(have.keys() - want.keys()):
        if have[name].attachment == TAP and not have[name].addresses:
            continue  # a tap that is not ours, or no longer wired: nothing to take off
        deletes.append(DeleteEndpoint(name, have[name].id))
    for name in sorted(want, key=lambda n: want[n].id):
        spec = want[name]
        seen = have.get(name)
        if seen is None and spec.attachment in HANDED_OVER:
            # The VM's tap is not there (yet, or any more), or docker's veth went with its
            # sandbox: nothing to make.
            continue
        if seen is None or (spec.attachment == TAP and not seen.addresses):
            changes.append(AddEndpoint(spec))
        elif seen.id and seen.id != spec.id:
            deletes.append(DeleteEndpoint(name, seen.id))
            changes.append(AddEndpoint(spec))
        elif reasons := _drift(seen, spec):
            changes.append(RepairEndpoint(spec, reasons))
    return deletes + changes


def _drift(seen: CurrentEndpoint, spec: EndpointSpec) -> tuple[str, ...]:
    reasons: list[str] = []
    tap = spec.attachment == TAP
    if not seen.id and not tap:
        reasons.append("the endpoint id alias is missing")
    want = frozenset(spec.addresses)
    reasons.extend(f"host route to {a} is missing" for a in _sorted(want - seen.addresses))
    reasons.extend(f"stale host route to {a}" for a in _sorted(seen.addresses - want))
    if seen.mtu != spec.mtu and not tap:  # a tap's MTU is Nova's
        reasons.append(f"mtu is {seen.mtu}, want {spec.mtu}")
    if not seen.up:
        reasons.append("the host interface is down")
    return tuple(reasons)


def _sorted(addresses: Iterable[IPAddress]) -> list[IPAddress]:
    return sorted(addresses, key=lambda a: (a.version, int(a)))


def _route_ops(current: Sequence[RouteSpec], desired: Sequence[RouteSpec]) -> list[Operation]:
    have = {r.dst: r for r in current}
    want = {r.dst: r for r in desired}
    deletes: list[Operation] = [DeleteRoute(have[dst]) for dst in _dsts(have.keys() - want.keys())]
    replaces: list[Operation] = []
    adds: list[Operation] = []
    for dst in _dsts(want.keys()):
        route, seen = want[dst], have.get(dst)
        if seen is None:
            adds.append(AddRoute(route))
        elif seen.via != route.via or (route.dev is not None and seen.dev != route.dev):
            replaces.append(ReplaceRoute(route, seen))
    return deletes + replaces + adds


def _dsts(dsts: Iterable[IPNetwork]) -> list[IPNetwork]:
    return sorted(dsts, key=net_key)


def _proxy_ops(current: Sequence[ProxySpec], desired: HostPlan) -> list[Operation]:
    have = {p for p in current if any(inside(p.address, n) for n in desired.proxy_ranges)}
    want = set(desired.proxies)
    deletes: list[Operation] = [DeleteProxy(p) for p in sorted(have - want, key=proxy_key)]
    adds: list[Operation] = [AddProxy(p) for p in sorted(want - have, key=proxy_key)]
    return deletes + adds
