"""The desired network state of one host (the diff that turns current state into it is
:mod:`romana.core.hostdiff`).

A :class:`HostPlan` says what the agent of one host must hold in that host's network
namespace: the gateway interface with one gateway address per network, routes to the other
hosts' prefixes, one veth pair per local endpoint, and a few sysctls. It is computed from
the cluster state elsewhere; this module validates it. No I/O happens here.

An endpoint may also hold an *external address* from an operator's pool (routed to its veth
like its romana address). Where the outside reaches such addresses over the hosts' shared
layer 2, the host answers ARP and neighbour solicitations for them on its underlay
interface with a *proxy neighbour entry* (:class:`ProxySpec`). Every proxy entry inside the
plan's ``proxy_ranges`` (the external pools) is ours, on whatever device; none outside them
ever is.

An endpoint is a veth pair (CNI) or a tap (:data:`TAP`): a device of the host namespace
that Nova made for a VM, named ``tap`` + 11 characters of the port id. A tap is never
created or deleted here: the diff wires one (gateway addresses, host routes) while its
device exists, proposes nothing while it does not, and takes our routes off a tap that the
plan no longer holds (a ``DeleteEndpoint`` of a tap name unwires, it deletes nothing). A
docker endpoint (:data:`DOCKER`) is a veth pair whose workload end docker moved into its
sandbox and renamed: the diff keeps its host end wired as a veth's and, like a tap, never
creates it again once it is gone (:data:`HANDED_OVER`).

Invariants:

* Everything a plan names is ours: the gateway interface ``romana-gw``, host-side veths
  named :func:`host_ifname` (``romana`` + 9 hex digits of a hash of the endpoint id), and
  routes the adapter tags with our route protocol number, and proxy neighbour entries
  inside ``proxy_ranges``. The diff only ever proposes operations on such objects, so a
  reconcile can never delete something it did not create.
* A host veth name is a pure function of the endpoint id, so the agent finds an endpoint's
  interface again after a restart without any local database.
* :func:`plan` reports every problem of a plan at once (``InvalidInput``) and builds
  nothing when there is one.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from romana.core import addressing, endpoint, kernelnames
from romana.core.errors import Issue, Issues

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

GATEWAY_IFNAME = kernelnames.GATEWAY_IFNAME
HOST_IFNAME_PREFIX = kernelnames.HOST_IFNAME_PREFIX
IFNAMSIZ = 15  # usable characters of a Linux interface name (IFNAMSIZ - 1)
MAX_ID_BYTES = 255  # the id is stored in the host veth's ifalias (IFALIASZ - 1)
MIN_MTU, MIN_MTU_IPV6, MAX_MTU = 68, 1280, 65535

_HASH_CHARS = IFNAMSIZ - len(HOST_IFNAME_PREFIX)
_HOST_IFNAME = re.compile(rf"{HOST_IFNAME_PREFIX}[0-9a-f]{{{_HASH_CHARS}}}")
_MAC = re.compile(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}")
VETH, TAP, DOCKER = endpoint.VETH, endpoint.TAP, endpoint.DOCKER
is_tap_ifname = endpoint.is_tap_name
HANDED_OVER = frozenset({TAP, DOCKER})
"""Attachments whose workload side is someone else's: the VM's behind a tap, or the
sandbox's into which docker moved and renamed the workload end. The agent never makes their
host-side device in a reconcile, nor reads or repairs what is inside."""


def host_ifname(endpoint_id: str) -> str:
    """The name of the host side of an endpoint's veth pair: stable, <= 15 characters."""
    digest = hashlib.sha256(endpoint_id.encode()).hexdigest()
    return HOST_IFNAME_PREFIX + digest[:_HASH_CHARS]


def is_host_ifname(name: str) -> bool:
    """True for names :func:`host_ifname` can produce: the only veths we own."""
    return _HOST_IFNAME.fullmatch(name) is not None


@dataclass(frozen=True, slots=True)
class GatewaySpec:
    """The gateway interface and its addresses, each with the host-prefix length.

    Example: ``10.1.0.1/16`` and ``fd00:0:1::1/64`` on ``romana-gw``.
    """

    addresses: tuple[IPInterface, ...]
    ifname: str = GATEWAY_IFNAME

    def gateway_for(self, address: IPAddress) -> IPAddress | None:
        """The gateway address whose host prefix contains ``address``."""
        for iface in self.addresses:
            if address.version == iface.version and address in iface.network:
                return iface.ip
        return None


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """A route to another host's prefix through that host's underlay address, or to one
    address (``/32``, ``/128``) that lives on another host than its prefix says."""

    dst: IPNetwork
    via: IPAddress
    dev: str | None = None


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    """One endpoint: a veth pair from this host into a workload network namespace.

    ``addresses`` go inside as ``/32`` (``/128``); ``gateways`` holds one next hop per
    address family used. ``netns`` is a path (``/run/netns/NAME``, ``/proc/PID/ns/net``).
    """

    id: str
    netns: str
    ifname: str
    addresses: tuple[IPAddress, ...]
    gateways: tuple[IPAddress, ...]
    mtu: int
    mac: str | None = None
    attachment: str = VETH
    """:data:`VETH`; :data:`TAP`: ``ifname`` is then the host's tap and ``netns`` empty; or
    :data:`DOCKER`: a veth whose ``ifname`` end docker moves into the sandbox ``netns``, and
    ``mac`` that end's MAC (the host end's neighbour entries name it)."""

    @property
    def host_ifname(self) -> str:
        return self.ifname if self.attachment == TAP else host_ifname(self.id)

    def gateway_for(self, version: int) -> IPAddress | None:
        return addressing.of_version(self.gateways, version)


@dataclass(frozen=True, slots=True)
class ProxySpec:
    """A proxy neighbour entry: the host answers ARP (IPv4) or neighbour solicitations
    (IPv6) for ``address`` on the device ``dev`` (``ip neigh add proxy ADDRESS dev DEV``)."""

    address: IPAddress
    dev: str


@dataclass(frozen=True, slots=True)
class Sysctl:
    """A network sysctl of the host namespace, in dotted form (``net.ipv4.ip_forward``)."""

    key: str
    value: str


@dataclass(frozen=True, slots=True)
class HostPlan:
    """Everything one host's agent keeps in place. Build it with :func:`plan`."""

    gateway: GatewaySpec
    routes: tuple[RouteSpec, ...]
    endpoints: tuple[EndpointSpec, ...]
    sysctls: tuple[Sysctl, ...]
    mtu: int
    busy: frozenset[str] = frozenset()
    """Host veth names of endpoints being made right now: never deleted, never repaired."""
    proxies: tuple[ProxySpec, ...] = ()
    proxy_ranges: tuple[IPNetwork, ...] = ()
    """The external pools: every proxy entry inside them is ours, none outside ever is."""


def default_sysctls(versions: Iterable[int]) -> tuple[Sysctl, ...]:
    """Forwarding for every address family in use; new namespaces start with it off.

    IPv6 forwarding makes every interface of the namespace a router, which stops it from
    accepting router advertisements unless that interface has ``accept_ra=2``.
    """
    wanted = set(versions)
    found: list[Sysctl] = []
    if 4 in wanted:
        found.append(Sysctl("net.ipv4.ip_forward", "1"))
    if 6 in wanted:
        found.append(Sysctl("net.ipv6.conf.all.forwarding", "1"))
    return tuple(found)


def _ifname_rule(name: str) -> str | None:
    if not name or len(name) > IFNAMSIZ:
        return f"must be 1..{IFNAMSIZ} characters"
    if name in (".", "..") or any(c in name for c in "/:") or any(c.isspace() for c in name):
        return "must not be '.', '..' or contain '/', ':' or white space"
    return None


def endpoint_issues(spec: EndpointSpec, field: str = "endpoint") -> list[Issue]:
    """Every problem of one endpoint on its own (no cross-endpoint checks)."""
    found = Issues()
    if not spec.id:
        found.add(f"{field}.id", "must not be empty")
    elif len(spec.id.encode()) > MAX_ID_BYTES:
        found.add(f"{field}.id", f"must be at most {MAX_ID_BYTES} bytes")
    if spec.attachment == TAP:
        if spec.netns:
            found.add(f"{field}.netns", "must be empty for a tap")
        if not is_tap_ifname(spec.ifname):
            found.add(f"{field}.ifname", "must be tap + 11 characters for a tap")
    elif spec.attachment not in (VETH, DOCKER):
        found.add(f"{field}.attachment", f"must be {VETH}, {TAP} or {DOCKER}")
    elif not spec.netns.startswith("/"):
        found.add(f"{field}.netns", "must be an absolute path to a network namespace")
    if (rule := _ifname_rule(spec.ifname)) is not None:
        found.add(f"{field}.ifname", rule)
    if not spec.addresses:
        found.add(f"{field}.addresses", "must hold at least one address")
    if len(set(spec.addresses)) != len(spec.addresses):
        found.add(f"{field}.addresses", "must not repeat an address")
    for address in sorted(set(spec.addresses) & set(spec.gateways), key=str):
        found.add(f"{field}.addresses", f"{address} is also a gateway")
    versions = {a.version for a in spec.addresses}
    gateway_versions = [g.version for g in spec.gateways]
    for version in sorted(versions):
        if gateway_versions.count(version) != 1:
            found.add(f"{field}.gateways", f"must hold exactly one IPv{version} gateway")
    for version in sorted(set(gateway_versions) - versions):
        found.add(f"{field}.gateways", f"has an IPv{version} gateway but no IPv{version} address")
    low = MIN_MTU_IPV6 if 6 in versions else MIN_MTU
    if not low <= spec.mtu <= MAX_MTU:
        found.add(f"{field}.mtu", f"must be {low}..{MAX_MTU}")
    if spec.mac is not None and (
        _MAC.fullmatch(spec.mac) is None
        or int(spec.mac[:2], 16) & 1
        or int(spec.mac.replace(":", ""), 16) == 0
    ):
        found.add(f"{field}.mac", "must be a unicast MAC address like 02:00:0a:01:11:01")
    return list(found)


def route_issues(route: RouteSpec, field: str = "route") -> list[Issue]:
    found = Issues()
    if route.via.version != route.dst.version:
        found.add(f"{field}.via", f"must be an IPv{route.dst.version} address like dst")
    elif route.via in route.dst:
        found.add(f"{field}.via", f"must not lie inside dst {route.dst}")
    if route.dev is not None and (rule := _ifname_rule(route.dev)) is not None:
        found.add(f"{field}.dev", rule)
    return list(found)


def _gateway_issues(gateway: GatewaySpec) -> Iterable[Issue]:
    if (rule := _ifname_rule(gateway.ifname)) is not None:
        yield Issue("gateway.ifname", rule)
    seen: list[IPNetwork] = []
    for i, iface in enumerate(gateway.addresses):
        if iface.network.prefixlen == iface.max_prefixlen:
            yield Issue(f"gateway.addresses[{i}]", "must carry the host-prefix length")
        if any(iface.network.overlaps(other) for other in seen):
            yield Issue(f"gateway.addresses[{i}]", "overlaps another gateway prefix")
        seen.append(iface.network)


def _routes_issues(routes: Sequence[RouteSpec], own: Sequence[IPNetwork]) -> Iterable[Issue]:
    first: dict[IPNetwork, int] = {}
    for i, route in enumerate(routes):
        yield from route_issues(route, f"routes[{i}]")
        if route.dst in first:
            yield Issue(f"routes[{i}].dst", f"repeats routes[{first[route.dst]}].dst")
        first.setdefault(route.dst, i)
        if route.dst.prefixlen == route.dst.max_prefixlen:
            # An exception route: an address of this host's prefix that lives on another host.
            continue
        for net in own:
            if route.dst.version == net.version and route.dst.overlaps(net):
                yield Issue(f"routes[{i}].dst", f"overlaps this host's own prefix {net}")


def _endpoints_issues(
    endpoints: Sequence[EndpointSpec], gateway: GatewaySpec, mtu: int
) -> Iterable[Issue]:
    gateway_ips = {iface.ip for iface in gateway.addresses}
    ids: dict[str, int] = {}
    names: dict[str, int] = {}
    owners: dict[IPAddress, int] = {}
    for i, ep in enumerate(endpoints):
        field = f"endpoints[{i}]"
        yield from endpoint_issues(ep, field)
        if ep.id in ids:
            yield Issue(f"{field}.id", f"repeats endpoints[{ids[ep.id]}].id")
        elif ep.host_ifname in names:
            yield Issue(
                f"{field}.id", f"hashes to the host ifname of endpoints[{names[ep.host_ifname]}]"
            )
        ids.setdefault(ep.id, i)
        names.setdefault(ep.host_ifname, i)
        for addr in ep.addresses:
            if owners.setdefault(addr, i) != i:
                yield Issue(
                    f"{field}.addresses", f"{addr} is also used by endpoints[{owners[addr]}]"
                )
        for gw in ep.gateways:
            if gw not in gateway_ips:
                yield Issue(f"{field}.gateways", f"{gw} is not a gateway address of this host")
        if ep.mtu > mtu:
            yield Issue(f"{field}.mtu", f"must be <= the host mtu {mtu}")


def _proxies_issues(proxies: Sequence[ProxySpec], ranges: Sequence[IPNetwork]) -> Iterable[Issue]:
    first: dict[ProxySpec, int] = {}
    for i, proxy in enumerate(proxies):
        field = f"proxies[{i}]"
        if not any(inside(proxy.address, net) for net in ranges):
            yield Issue(f"{field}.address", "must lie inside one of proxy_ranges")
        if (rule := _ifname_rule(proxy.dev)) is not None:
            yield Issue(f"{field}.dev", rule)
        elif proxy.address.version == 6 and "." in proxy.dev:
            # its proxy_ndp sysctl cannot be named in dotted form
            yield Issue(f"{field}.dev", "must not contain '.' for an IPv6 proxy")
        if proxy in first:
            yield Issue(field, f"repeats proxies[{first[proxy]}]")
        first.setdefault(proxy, i)


def inside(address: IPAddress, net: IPNetwork) -> bool:
    return address.version == net.version and address in net


def proxy_sysctls(proxies: Iterable[ProxySpec]) -> tuple[Sysctl, ...]:
    """``proxy_ndp`` on each device with an IPv6 proxy entry: the kernel answers neighbour
    solicitations from IPv6 proxy entries only where it is on (IPv4 needs no switch); and
    ``proxy_delay`` 0 on each device with a proxy entry of the family, since the kernel
    otherwise delays each proxied answer by up to 0.8 s at random."""
    found: list[Sysctl] = []
    for version, family in ((4, "ipv4"), (6, "ipv6")):
        for dev in sorted({p.dev for p in proxies if p.address.version == version}):
            if version == 6:
                found.append(Sysctl(f"net.ipv6.conf.{dev}.proxy_ndp", "1"))
            found.append(Sysctl(f"net.{family}.neigh.{dev}.proxy_delay", "0"))
    return tuple(found)


def plan(
    gateway: GatewaySpec,
    routes: Sequence[RouteSpec],
    endpoints: Sequence[EndpointSpec],
    *,
    mtu: int,
    sysctls: Sequence[Sysctl] | None = None,
    busy: Iterable[str] = (),
    proxies: Sequence[ProxySpec] = (),
    proxy_ranges: Sequence[IPNetwork] = (),
) -> HostPlan:
    """Validate the parts of a host plan and return it; every problem is reported at once.

    Routes are sorted by destination, endpoints by id and proxies by address, so equal
    inputs give equal plans. ``sysctls`` defaults to :func:`default_sysctls` for the
    families of the gateway and of the proxies (the kernel answers for a proxied address
    only where it forwards); :func:`proxy_sysctls` of ``proxies`` are added either way.
    """
    versions = {iface.version for iface in gateway.addresses} | {p.address.version for p in proxies}
    chosen = default_sysctls(versions) if sysctls is None else tuple(sysctls)
    found = Issues("host plan")
    found.extend(_gateway_issues(gateway))
    if not MIN_MTU <= mtu <= MAX_MTU:
        found.add("mtu", f"must be {MIN_MTU}..{MAX_MTU}")
    found.extend(_routes_issues(routes, [iface.network for iface in gateway.addresses]))
    found.extend(_endpoints_issues(endpoints, gateway, mtu))
    found.extend(_proxies_issues(proxies, proxy_ranges))
    for i, sysctl in enumerate(chosen):
        parts = sysctl.key.split(".")
        if parts[0] != "net" or len(parts) < 3 or not all(parts) or "/" in sysctl.key:
            found.add(f"sysctls[{i}].key", "must be a dotted key under net. (net.ipv4.ip_forward)")
    found.raise_if_any()
    keys = {s.key for s in chosen}
    chosen += tuple(s for s in proxy_sysctls(proxies) if s.key not in keys)
    return HostPlan(
        gateway=gateway,
        routes=tuple(sorted(routes, key=lambda r: net_key(r.dst))),
        endpoints=tuple(sorted(endpoints, key=lambda ep: ep.id)),
        sysctls=chosen,
        mtu=mtu,
        busy=frozenset(busy),
        proxies=tuple(sorted(proxies, key=proxy_key)),
        proxy_ranges=tuple(sorted(set(proxy_ranges), key=net_key)),
    )


def net_key(net: IPNetwork) -> tuple[int, int, int]:
    return (net.version, int(net.network_address), net.prefixlen)


def proxy_key(proxy: ProxySpec) -> tuple[int, int, str]:
    return (proxy.address.version, int(proxy.address), proxy.dev)


# --- the current state, as the adapter reads it ------------------------------------------
