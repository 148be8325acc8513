"""The desired state of this host, computed from the host view and the endpoint registry.

Pure: values in, values out; no I/O, no clock. The reconciler calls :func:`host_plan` and
:func:`firewall` on every reconcile with a full snapshot, so the result never depends on
which events arrived in which order.

* :func:`host_plan`: the gateway addresses (one per network, with the host-prefix length),
  routes to other hosts, one endpoint per ready registry record whose namespace still exists,
  and the forwarding sysctls — validated by :func:`romana.core.hostplan.plan`.
* :func:`firewall`: the ruleset compiled by :func:`romana.core.policy.compile.compile_ruleset`
  from the tenants, layouts and policies. A policy that cannot be parsed or that this backend
  cannot express is left out *whole* and named in ``refused`` — the others are enforced —
  so one bad policy can neither half-apply nor block every later change.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from romana.agent import registry, view
from romana.core import addressing, hostplan, ruleset
from romana.core.errors import InvalidInput, RomanaError
from romana.core.policy import compile as policy_compile
from romana.core.policy import model, parse

_UNLIMITED_SETS: Mapping[str, tuple[addressing.IPNetwork, ...]] = {}


def gateway_spec(hv: view.HostView) -> hostplan.GatewaySpec:
    """The gateway addresses of this host: ``gateway/host-prefix-length`` per network."""
    return hostplan.GatewaySpec(
        tuple(
            ipaddress.ip_interface(f"{p.gateway}/{p.prefix.prefixlen}")
            for p in sorted(hv.prefixes, key=lambda p: p.network)
        )
    )


def endpoint_spec(
    record: registry.EndpointRecord, gateway: hostplan.GatewaySpec, mtu: int, mac: str | None
) -> hostplan.EndpointSpec:
    """The endpoint of one ready record; each address uses the gateway of its prefix."""
    gateways: list[addressing.IPAddress] = []
    for address in record.addresses:
        gw = gateway.gateway_for(address)
        if gw is not None and gw not in gateways:
            gateways.append(gw)
    return hostplan.EndpointSpec(
        id=record.key,
        netns=record.netns,
        ifname=record.ifname,
        addresses=record.addresses,
        gateways=tuple(gateways),
        mtu=min(record.mtu or mtu, mtu),
        mac=mac,
    )


@dataclass(frozen=True, slots=True)
class Plan:
    plan: hostplan.HostPlan
    skipped: tuple[str, ...]
    """Ready endpoints left out of the plan, with the reason (namespace gone, …)."""


def host_plan(
    hv: view.HostView,
    records: Sequence[registry.EndpointRecord],
    *,
    mtu: int,
    live_netns: Collection[str],
    macs: Mapping[str, str] | None = None,
    routes: Sequence[hostplan.RouteSpec] | None = None,
) -> Plan:
    """This host's plan. ``routes`` overrides the view's routes (non-aggregated plans)."""
    gateway = gateway_spec(hv)
    own = [p.prefix for p in hv.prefixes]
    chosen = (
        list(routes)
        if routes is not None
        else [
            hostplan.RouteSpec(r.dst, r.via)
            for r in hv.routes
            if r.via != hv.ip
            and not any(r.dst.overlaps(p) for p in own if p.version == r.dst.version)
        ]
    )
    endpoints: list[hostplan.EndpointSpec] = []
    skipped: list[str] = []
    for record in records:
        if record.state != registry.READY:
            continue
        if record.netns not in live_netns:
            skipped.append(f"{record.key}: network namespace {record.netns} is gone")
            continue
        spec = endpoint_spec(record, gateway, mtu, (macs or {}).get(record.key))
        problems = hostplan.endpoint_issues(spec)
        if len(spec.gateways) != len({a.version for a in spec.addresses}):
            skipped.append(f"{record.key}: no gateway of this host covers {record.addresses}")
            continue
        if problems:
            skipped.append(f"{record.key}: {'; '.join(str(p) for p in problems)}")
            continue
        endpoints.append(spec)
    plan = hostplan.plan(gateway, chosen, endpoints, mtu=mtu)
    return Plan(plan, tuple(skipped))


@dataclass(frozen=True, slots=True)
class Firewall:
    rules: ruleset.Ruleset
    refused: tuple[str, ...]
    """Policies left out, each with the reason (unparsable, not expressible, …)."""
    policy_names: tuple[str, ...]


def _tenants(hv: view.HostView) -> tuple[policy_compile.Tenant, ...]:
    return tuple(
        policy_compile.Tenant(t.name, dict(t.ids), dict(t.segments), t.external_id)
        for t in sorted(hv.tenants.values(), key=lambda t: t.name)
    )


PolicyParser = Callable[[Mapping[str, Any]], model.Policy]


def _parsed(
    raws: Sequence[Mapping[str, Any]], parse_policy: PolicyParser
) -> tuple[list[model.Policy], list[str]]:
    policies: list[model.Policy] = []
    refused: list[str] = []
    names: set[str] = set()
    for i, raw in enumerate(raws):
        label = str(raw.get("id") or raw.get("name") or f"policies[{i}]")
        try:
            parsed = parse_policy(raw)
        except InvalidInput as exc:
            refused.append(f"policy {label!r}: {exc}")
            continue
        if parsed.name in names:
            refused.append(f"policy {label!r}: name {parsed.name!r} is used by another policy")
            continue
        names.add(parsed.name)
        policies.append(parsed)
    return policies, refused


def firewall(
    hv: view.HostView,
    *,
    interface_prefix: str = hostplan.HOST_IFNAME_PREFIX,
    parse_policy: PolicyParser = parse.policy,
) -> Firewall:
    """The ruleset of this host; policies that cannot be enforced are left out whole.

    ``parse_policy`` lets a caller reuse policies it parsed before (it must behave as
    :func:`romana.core.policy.parse.policy`)."""
    policies, refused = _parsed(hv.policies, parse_policy)

    def compile_with(chosen: Sequence[model.Policy]) -> ruleset.Ruleset:
        return policy_compile.compile_ruleset(
            policy_compile.CompileInput(
                layouts=hv.layouts,
                tenants=_tenants(hv),
                host=hv.host,
                host_prefixes=tuple(p.prefix for p in hv.prefixes),
                gateways=tuple(p.gateway for p in hv.prefixes),
                policies=tuple(chosen),
                address_sets=_UNLIMITED_SETS,
                interface_prefix=interface_prefix,
            )
        )

    try:
        rules = compile_with(policies)
    except RomanaError:
        # Find the culprits one by one (only on this failure path), keep the rest.
        kept: list[model.Policy] = []
        for policy in policies:
            try:
                compile_with([policy])
            except RomanaError as exc:
                refused.append(f"policy {policy.name!r}: {exc}")
                continue
            kept.append(policy)
        policies = kept
        rules = compile_with(policies)
    return Firewall(rules, tuple(refused), tuple(sorted(p.name for p in policies)))
