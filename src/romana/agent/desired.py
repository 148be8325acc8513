"""The desired state of this host, computed from the host view and the endpoint registry.

Pure: values in, values out; no I/O, no clock. The reconciler calls :func:`host_plan` and
:func:`firewall` on every reconcile with a full snapshot, so the result never depends on
which events arrived in which order.

* :func:`host_plan`: the gateway addresses (one per network, with the host-prefix length),
  routes to other hosts, one endpoint per ready registry record whose namespace still exists
  (or, for a VM's tap, per ready tap record),
  and the forwarding sysctls — validated by :func:`romana.core.hostplan.plan`. What is left
  out is named in ``skipped``: ready endpoints that cannot be wired, and the prefixes the
  route plan cannot route (a host without an underlay address of their family).
* :func:`firewall`: the ruleset of :func:`romana.core.policy.hostrules.host_firewall` from
  the tenants (each with its isolation mode), layouts, policies and address sets — the
  very function ``romana explain`` uses — and the taps wired here (:func:`tap_devices`),
  filtered by exact name as the veths are. A policy that cannot be parsed or that this
  backend cannot express is left out *whole* and named in ``refused``.
* :class:`Compiler`: :func:`firewall` memoised for a caller that compiles view after view
  (the reconciler), so an unchanged policy set costs nothing, a change re-parses only the
  policies that changed, and a change of address-set members or of taps alone only refills
  those sets in the last ruleset (the firewall backend then rewrites just them).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from romana.agent import ledger, view
from romana.core import addressing, egress, hostplan, ruleset
from romana.core.errors import InvalidInput
from romana.core.external import EgressNat, NatMode
from romana.core.identifiers import NetworkName
from romana.core.policy import compile as policy_compile
from romana.core.policy import externals, hostrules, ids, model, resolve


def gateway_spec(hv: view.HostView) -> hostplan.GatewaySpec:
    """The gateway addresses of this host: ``gateway/host-prefix-length`` per network."""
    return hostplan.GatewaySpec(
        tuple(
            ipaddress.ip_interface(f"{p.gateway}/{p.prefix.prefixlen}")
            for p in sorted(hv.prefixes, key=lambda p: p.network)
        )
    )


def _is_host_route(dst: addressing.IPNetwork) -> bool:
    return dst.prefixlen == dst.max_prefixlen


def _nearest_gateway(
    gateway: hostplan.GatewaySpec, address: addressing.IPAddress
) -> addressing.IPAddress | None:
    """The gateway of this host in the network of ``address``, which lies in another host's
    prefix (it moved here): the one sharing the longest leading bits with it. Networks are
    disjoint, so a gateway of the address's own network shares at least that network's
    prefix length, and one of any other network fewer."""
    same = [i.ip for i in gateway.addresses if i.version == address.version]
    if not same:
        return None
    bits = address.max_prefixlen
    return max(same, key=lambda gw: bits - (int(gw) ^ int(address)).bit_length())


def endpoint_spec(
    record: ledger.EndpointRecord,
    gateway: hostplan.GatewaySpec,
    mtu: int,
    mac: str | None,
    external: Sequence[addressing.IPAddress] = (),
) -> hostplan.EndpointSpec:
    """The endpoint of one ready record; each address uses the gateway of its prefix, or, for
    an address that moved here from another host, this host's gateway in its network.

    ``external``: the endpoint's external addresses, put on its interface after its romana
    addresses (so the romana address stays the one the kernel picks as source) when it has
    a romana address of their family. A tap's and a docker endpoint's are routed to its host
    end (and proxied) as a veth's, and never looked for inside: the VM configures them
    itself, and :mod:`romana.agent.dockerexternals` puts them inside a container."""
    gateways: list[addressing.IPAddress] = []
    for address in record.addresses:
        gw = gateway.gateway_for(address) or _nearest_gateway(gateway, address)
        if gw is not None and gw not in gateways:
            gateways.append(gw)
    versions = {a.version for a in record.addresses}
    extra = (
        tuple(a for a in external if a.version in versions and a not in record.addresses)
        if record.attachment in (hostplan.VETH, hostplan.DOCKER, hostplan.TAP)
        else ()
    )
    return hostplan.EndpointSpec(
        id=record.key,
        netns=record.netns,
        ifname=record.ifname,
        addresses=tuple(record.addresses) + extra,
        gateways=tuple(gateways),
        mtu=min(record.mtu or mtu, mtu),
        mac=None if record.is_tap else mac,
        attachment=record.attachment,
    )


@dataclass(frozen=True, slots=True)
class Plan:
    plan: hostplan.HostPlan
    skipped: tuple[str, ...]
    """Routes and ready endpoints left out of the plan, each with the reason."""


def host_plan(
    hv: view.HostView,
    records: Sequence[ledger.EndpointRecord],
    *,
    mtu: int,
    live_netns: Collection[str],
    macs: Mapping[str, str] | None = None,
    routes: Sequence[hostplan.RouteSpec] | None = None,
    underlay: str = "",
) -> Plan:
    """This host's plan. ``routes`` overrides the view's routes (non-aggregated plans);
    ``underlay`` is the interface that answers for external addresses (:func:`proxies`)."""
    gateway = gateway_spec(hv)
    own = [p.prefix for p in hv.prefixes]
    offered = (
        list(routes)
        if routes is not None
        else [
            hostplan.RouteSpec(r.dst, r.via)
            for r in hv.routes
            if r.via != hv.ip
            and (
                r.moved_from is not None
                or not any(r.dst.overlaps(p) for p in own if p.version == r.dst.version)
            )
        ]
    )
    skipped: list[str] = list(hv.skipped_routes)
    # An exception route sends an address to the host it moved to; while an endpoint here
    # still holds it (a live migration not yet finished), the endpoint keeps it.
    local = {a for record in records for a in record.addresses}
    kept = [r for r in offered if not (_is_host_route(r.dst) and r.dst.network_address in local)]
    skipped.extend(
        f"route to {r.dst} via {r.via}: an endpoint of this host holds the address"
        for r in offered
        if r not in kept
    )
    offered = kept
    chosen: list[hostplan.RouteSpec] = []
    for route in offered:
        if route.via.version != route.dst.version:
            # Linux refuses an IPv6 route via an IPv4 gateway; romanad plans none, but a
            # plan from elsewhere may hold one.
            skipped.append(
                f"route to {route.dst} via {route.via}: the next hop is not IPv{route.dst.version}"
            )
            continue
        chosen.append(route)
    endpoints: list[hostplan.EndpointSpec] = []
    busy: list[str] = []
    for record in records:
        if record.state != ledger.READY:
            # An ADD is wiring it (or died doing so, and DEL or GC will remove it).
            busy.append(endpoint_spec(record, gateway, mtu, None).host_ifname)
            continue
        # A tap has no namespace, and a docker sandbox's file may come after the endpoint
        # (dockerd makes it once the container starts, after Join): while the device or
        # host end of either is missing, the diff leaves it be.
        if record.attachment not in hostplan.HANDED_OVER and record.netns not in live_netns:
            skipped.append(f"{record.key}: network namespace {record.netns} is gone")
            continue
        spec = endpoint_spec(
            record, gateway, mtu, (macs or {}).get(record.key), hv.external.of(record.key)
        )
        problems = hostplan.endpoint_issues(spec)
        if len(spec.gateways) != len({a.version for a in spec.addresses}):
            skipped.append(f"{record.key}: no gateway of this host covers {record.addresses}")
            continue
        if problems:
            skipped.append(f"{record.key}: {'; '.join(str(p) for p in problems)}")
            continue
        endpoints.append(spec)
    plan = hostplan.plan(
        gateway,
        chosen,
        endpoints,
        mtu=mtu,
        busy=busy,
        proxies=proxies(hv, endpoints, underlay),
        proxy_ranges=hv.external.pools,
    )
    return Plan(plan, tuple(skipped))


def proxies(
    hv: view.HostView, endpoints: Sequence[hostplan.EndpointSpec], underlay: str
) -> tuple[hostplan.ProxySpec, ...]:
    """The proxy neighbour entries on the underlay interface that answer for the external
    addresses of the ``endpoints`` wired here, so the hosts' layer 2 (a router in front of
    it) reaches them: in ``direct`` route mode only (in ``bgp`` mode BIRD announces them),
    and only with a known underlay interface."""
    if hv.bgp is not None or not underlay:
        return ()
    wired = {a for ep in endpoints for a in ep.addresses}
    return tuple(
        hostplan.ProxySpec(a.address, underlay)
        for a in sorted(hv.external.addresses, key=lambda a: (a.address.version, int(a.address)))
        if a.address in wired
    )


def external_pairs(hv: view.HostView) -> tuple[egress.Pair, ...]:
    """(external address, romana address of its family) of each endpoint of this host that
    holds one: what the firewall judges and rewrites as that endpoint."""
    pairs = []
    for item in hv.external.addresses:
        romana = addressing.of_version(item.romana, item.address.version)
        if romana is not None:
            pairs.append((item.address, romana))
    return tuple(sorted(pairs, key=lambda p: (p[0].version, int(p[0]))))


Firewall = hostrules.Firewall
PolicyParser = hostrules.PolicyParser


def tap_devices(records: Sequence[ledger.EndpointRecord]) -> tuple[str, ...]:
    """The taps of this agent's tap endpoints, sorted: the ready ones and those an ADD is
    wiring (named before their routes exist). Only these are filtered; a tap no record names
    (another system's) is never matched."""
    return tuple(sorted({r.ifname for r in records if r.is_tap}))


def firewall(
    hv: view.HostView,
    *,
    interface_prefix: str = hostplan.HOST_IFNAME_PREFIX,
    parse_policy: PolicyParser = ids.parse_stored,
    devices: tuple[str, ...] = (),
) -> Firewall:
    """The ruleset of this host (:func:`romana.core.policy.hostrules.host_firewall`).

    ``parse_policy`` lets a caller reuse policies it parsed before (it must behave as
    :func:`romana.core.policy.ids.parse_stored`). ``devices``: the taps wired here."""
    pairs = external_pairs(hv)
    fw = hostrules.host_firewall(
        hostrules.HostInput(
            host=hv.host,
            layouts=hv.layouts,
            tenants=tuple(hv.tenants.values()),
            prefixes=tuple((p.prefix, p.gateway) for p in hv.prefixes),
            policies=hv.policies,
            address_sets=hv.address_sets,
            interface_prefix=interface_prefix,
            endpoint_devices=devices,
            externals=pairs,
        ),
        parse_policy,
    )
    # romanad lists every network's setting, the default included; a network the view
    # names none for (a view of an earlier romanad) is not NATed.
    given = {n.network for n in hv.external.nat}
    settings = [*hv.external.nat] + [
        EgressNat(NetworkName(n), NatMode.OFF) for n in hv.layouts if n not in given
    ]
    nat = egress.egress_nat(
        hv.layouts,
        hv.tenants,
        settings,
        hv.external.pools,
        pairs,
        vips=[egress.VipTarget(v.name, v.address, v.endpoints) for v in hv.vips if v.local_keys],
        interface_prefix=interface_prefix,
    )
    if not nat.chains:
        return fw
    try:
        # Each part checked on its own, then only where they meet.
        rules = ruleset.joined(fw.rules, ruleset.Ruleset(nat.sets, nat.chains))
    except InvalidInput:
        # The NAT part may lean on the filter's sets: the whole says what holds.
        rules = ruleset.Ruleset(
            sets=fw.rules.sets + nat.sets,
            chains=fw.rules.chains + nat.chains,
            notes=fw.rules.notes,
            interface_sets=fw.rules.interface_sets,
        )
    return Firewall(rules, fw.refused, fw.policy_names)


def with_members(
    rules: ruleset.Ruleset, members: Mapping[str, tuple[addressing.IPNetwork, ...]]
) -> ruleset.Ruleset:
    """``rules`` with the elements of the sets compiled for ``members`` replaced.

    Equal to compiling again when only the members changed: the compiler derives nothing
    from members but the elements of each set (which sets exist depends on the names)."""
    elements = {
        (resolve.set_name("set", version, name), version): nets
        for name, nets in members.items()
        for version in (4, 6)
    }
    sets = [
        (s, ruleset.address_set(s.name, s.version, elements[s.name, s.version]))
        for s in rules.sets
        if (s.name, s.version) in elements
    ]
    # The sets whose members did not change stay the very objects they were.
    return ruleset.refilled(rules, sets=[new for old, new in sets if new != old])


def with_devices(rules: ruleset.Ruleset, devices: tuple[str, ...]) -> ruleset.Ruleset:
    """``rules`` with its set of tap names holding ``devices``.

    Equal to compiling again while taps neither all went nor first came: the chains depend
    only on whether there are any (:mod:`romana.core.policy.compile`)."""
    return ruleset.refilled(rules, interface_sets=policy_compile.devices_set(devices))


def _members_only(old: view.HostView, new: view.HostView) -> bool:
    """True when the ruleset of ``new`` differs from that of ``old`` in set members at most."""
    return (
        old.host == new.host
        and old.policies == new.policies
        and old.tenants == new.tenants
        and old.layouts == new.layouts
        and old.prefixes == new.prefixes
        and old.address_sets.keys() == new.address_sets.keys()
        and old.external == new.external
        and old.vips == new.vips
    )


@dataclass(frozen=True, slots=True)
class _Last:
    """What :class:`Compiler` compiled last, and from what."""

    key: str
    devices: tuple[str, ...]
    hv: view.HostView
    firewall: Firewall


class Compiler:
    """:func:`firewall` over successive views, redoing only what their change requires.

    The ruleset is compiled again only when the digest of its inputs (``key``) changed, and
    then only policies whose JSON changed are parsed again (a document the last view held,
    the very object, is not even encoded again: views are never changed once made); a change
    of taps alone only refills their set, unless the first came or the last went.
    Memoisation only: the result is always what :func:`firewall` gives for the view and the
    taps. One instance per caller thread.
    """

    def __init__(self) -> None:
        self._parsed: dict[bytes, model.Policy | InvalidInput] = {}
        self._digests: dict[int, tuple[Mapping[str, Any], bytes]] = {}
        self._last: _Last | None = None

    def firewall(self, hv: view.HostView, key: str, devices: tuple[str, ...] = ()) -> Firewall:
        last = self._last
        if last is not None and bool(last.devices) == bool(devices):
            rules = None
            if last.key == key:
                rules = last.firewall.rules
            elif _members_only(last.hv, hv):
                members = externals.with_externals(hv.address_sets, external_pairs(hv))
                rules = with_members(last.firewall.rules, members)
            if rules is not None:
                if devices != last.devices:
                    rules = with_devices(rules, devices)
                fw = last.firewall
                result = fw if rules is fw.rules else Firewall(rules, fw.refused, fw.policy_names)
                self._last = _Last(key, devices, hv, result)
                return result
        old = self._parsed
        new: dict[bytes, model.Policy | InvalidInput] = {}
        digests = self._digests
        self._digests = {}

        def reuse(raw: Mapping[str, Any]) -> model.Policy:
            # Keyed by a digest of the document, not its text: 16 bytes per policy kept.
            # The documents of unchanged policies are those of the last view
            # (view.share_policies), whose digests are known; an entry holds its document,
            # so no other object can have that id meanwhile.
            known = digests.get(id(raw))
            if known is not None and known[0] is raw:
                key = known[1]
            else:
                text = json.dumps(raw, sort_keys=True, default=str)
                key = hashlib.blake2b(text.encode(), digest_size=16).digest()
            self._digests[id(raw)] = (raw, key)
            found = old.get(key)
            if found is None:
                try:
                    found = ids.parse_stored(raw)
                except InvalidInput as exc:
                    found = exc
            new[key] = found
            if isinstance(found, InvalidInput):
                raise found
            return found

        result = firewall(hv, parse_policy=reuse, devices=devices)
        self._parsed = new
        self._last = _Last(key, devices, hv, result)
        return result
