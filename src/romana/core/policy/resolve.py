"""Resolve policy endpoints against the tenancy into targets and address matches; name chains.

A *target* is a place in the compiled ruleset that policies attach to: every local endpoint,
the host itself, a tenant, a tenant's segment, or a named address set. A *peer* becomes a
list of alternative match tuples (any one of them matching is enough):

* tenant / segment: one masked address match per network the tenant has an id in, built
  from :func:`addressing.tenant_match` / :func:`addressing.segment_match` — never anything
  per endpoint;
* host, local and address sets: one set match per address family;
* cidr: one prefix match; any: the empty tuple (matches everything).

A reference that names no known tenant, segment or set resolves to nothing; the resolver
records a note saying so instead of failing, because the tenancy and the policies change
independently and a later compilation picks the object up once it exists.

Names: every chain and set we create is ``romana-`` plus readable tokens when they are short
and plain (``[a-z0-9-]``), or ``_`` plus ten hex digits of SHA-1 otherwise. Plain tokens never
contain ``_`` or ``.``, so a hashed token can never equal a plain one and ``tenant.segment``
splits one way only.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from romana.core import addressing, ruleset, tenancy
from romana.core.policy import model
from romana.core.policy import scope as scope_mod

_PLAIN = re.compile(r"^[a-z0-9][a-z0-9-]*$")
DEFAULT_SEGMENT_NAME = "default"

Alternatives = list[tuple[ruleset.MatchExpr, ...]]


def token(text: str, room: int) -> str:
    """``text`` when it is plain and fits ``room`` characters, otherwise a stable hash."""
    if _PLAIN.match(text) and len(text) <= room:
        return text
    return "_" + hashlib.sha1(text.encode()).hexdigest()[:10]


def chain_name(stem: str, *parts: str) -> str:
    """``romana-<stem>-<part>[.<part>]`` within the iptables length limit."""
    room = ruleset.MAX_CHAIN_NAME - len(ruleset.PREFIX) - len(stem) - 1
    plain = ".".join(parts)
    if all(_PLAIN.match(p) for p in parts) and len(plain) <= room:
        return f"{ruleset.PREFIX}{stem}-{plain}"
    return f"{ruleset.PREFIX}{stem}-{token(chr(0).join(parts) + chr(0), 0)}"


def set_name(stem: str, version: int, name: str = "") -> str:
    """``romana-<stem>[-<name>]-<4|6>`` within the set-name limit."""
    if not name:
        return f"{ruleset.PREFIX}{stem}-{version}"
    room = ruleset.MAX_SET_NAME - len(ruleset.PREFIX) - len(stem) - 4
    return f"{ruleset.PREFIX}{stem}-{token(name, room)}-{version}"


TenantLike = scope_mod.TenantLike


@dataclass(frozen=True, slots=True)
class Tenant:
    """A tenant given directly (tests, tools); any :class:`TenantLike` will do."""

    name: str
    ids: Mapping[str, int]
    segments: Mapping[str, int] = field(default_factory=dict)
    external_id: str = ""
    isolation: tenancy.Isolation = tenancy.ROMANA


def _name(tenant: TenantLike) -> str:
    return tenant.name


def segment_id(tenant: TenantLike, name: str) -> int | None:
    if name in tenant.segments:
        return tenant.segments[name]
    return addressing.DEFAULT_SEGMENT if name == DEFAULT_SEGMENT_NAME else None


def segment_label(tenant: TenantLike, segment: int) -> str:
    """The segment's name for chain names: its (first) name, else its number."""
    names = sorted(n for n, i in tenant.segments.items() if i == segment)
    if names:
        return names[0]
    return DEFAULT_SEGMENT_NAME if segment == addressing.DEFAULT_SEGMENT else str(segment)


class TargetKind(StrEnum):
    LOCAL = "local"
    HOST = "host"
    TENANT = "tenant"
    SEGMENT = "segment"
    SET = "set"


@dataclass(frozen=True, slots=True, order=True)
class Target:
    kind: TargetKind
    tenant: str = ""
    segment: int = 0
    address_set: str = ""


class Resolver:
    """Turns endpoints into targets and peer matches for one host's compilation.

    The tenancy comes from :func:`scope.tenancy`, shared with other compilations of an equal
    one; what a resolver adds is this compilation's notes."""

    def __init__(
        self,
        layouts: Mapping[str, addressing.Layout],
        tenants: Sequence[TenantLike],
        address_sets: Collection[str],
        versions: Sequence[int],
    ) -> None:
        frame = scope_mod.Frame.of(layouts, versions)
        frozen = tuple(sorted(map(scope_mod.FrozenTenant.of, tenants), key=_name))
        self._use(scope_mod.tenancy(frame, frozen, frozenset(address_sets)))

    @classmethod
    def of_scope(cls, scope: scope_mod.Scope) -> Resolver:
        """A resolver that sees only ``scope``: it resolves the policy of that scope exactly
        as a resolver that sees everything does."""
        resolver = cls.__new__(cls)
        resolver._use(scope_mod.Tenancy(scope.frame, scope.tenants, scope.address_sets))
        return resolver

    def _use(self, tenancy: scope_mod.Tenancy) -> None:
        self.tenancy = tenancy
        self.frame = tenancy.frame
        self.layouts = dict(tenancy.frame.layouts)
        self.versions = tenancy.frame.versions
        self.tenants = tenancy.tenants
        self.by_name = tenancy.by_name
        self.address_sets = tenancy.address_sets
        self.notes: list[str] = []

    def scope(self, policy: model.Policy) -> scope_mod.Scope:
        """What resolving ``policy``'s endpoints reads of the tenancy."""
        return self.tenancy.scope(policy)

    def _find(self, ref: model.TenantRef, where: str) -> Sequence[TenantLike]:
        found = self.tenancy.select(ref)
        if not found:
            self.notes.append(f"{where}: no {ref} is known; it selects nothing")
        return found

    def _segments(self, tenant: TenantLike, ref: model.SegmentRef, where: str) -> list[int]:
        segment = segment_id(tenant, ref.name) if ref.name is not None else ref.number
        if segment is None:
            self.notes.append(f"{where}: tenant {tenant.name} has no {ref}; it selects nothing")
            return []
        return [segment]

    def targets(self, endpoint: model.Endpoint, where: str) -> list[Target]:
        kind = endpoint.kind
        if kind is model.Kind.LOCAL:
            return [Target(TargetKind.LOCAL)]
        if kind is model.Kind.HOST:
            return [Target(TargetKind.HOST)]
        if kind is model.Kind.ADDRESS_SET:
            assert endpoint.address_set is not None
            self._check_set(endpoint.address_set, where)
            if endpoint.tenant is None:
                return [Target(TargetKind.SET, address_set=endpoint.address_set)]
            return [
                Target(TargetKind.SET, t.name, address_set=endpoint.address_set)
                for t in self._find(endpoint.tenant, where)
            ]
        assert endpoint.tenant is not None
        tenants = self._find(endpoint.tenant, where)
        if endpoint.segment is None:
            return [Target(TargetKind.TENANT, t.name) for t in tenants]
        return [
            Target(TargetKind.SEGMENT, t.name, s)
            for t in tenants
            for s in self._segments(t, endpoint.segment, where)
        ]

    def peer(self, endpoint: model.Endpoint, side: ruleset.Side, where: str) -> Alternatives:
        kind = endpoint.kind
        if kind is model.Kind.ANY:
            return [()]
        if kind is model.Kind.CIDR:
            net = endpoint.cidr
            assert net is not None
            match = addressing.Match(net.version, int(net.network_address), int(net.netmask))
            return [(ruleset.Address(side, match),)]
        if kind in (model.Kind.HOST, model.Kind.LOCAL):
            stem = "host" if kind is model.Kind.HOST else "local"
            return [(ruleset.InSet(side, set_name(stem, v), v),) for v in self.versions]
        if kind is model.Kind.ADDRESS_SET:
            assert endpoint.address_set is not None
            self._check_set(endpoint.address_set, where)
            return [
                (ruleset.InSet(side, set_name("set", v, endpoint.address_set), v),)
                for v in self.versions
            ]
        return [
            (ruleset.Address(side, match),)
            for target in self.targets(endpoint, where)
            for match in self.matches(target)
        ]

    def matches(self, target: Target) -> list[addressing.Match]:
        """The masked matches of a tenant or segment target, one per network it lives in."""
        tenant = self.by_name[target.tenant]
        out = []
        for network, lay in self.layouts.items():
            if network not in tenant.ids:
                continue
            if target.kind is TargetKind.TENANT:
                out.append(addressing.tenant_match(lay, tenant.ids[network]))
            elif target.segment <= lay.max_segment:
                out.append(addressing.segment_match(lay, tenant.ids[network], target.segment))
        return out

    def _check_set(self, name: str, where: str) -> None:
        if name not in self.address_sets:
            self.notes.append(f"{where}: address set {name!r} is not defined; it is empty")


def rule_alternatives(rule: model.Rule) -> Alternatives:
    """The match alternatives of one policy rule (protocol, ports, ICMP type)."""
    if rule.protocol is model.Protocol.ANY:
        return [()]
    if rule.protocol in model.PORT_PROTOCOLS:
        proto = ruleset.Protocol(ruleset.Proto(rule.protocol.value))
        ranges = sorted({(p, p) for p in rule.ports} | {(r.lo, r.hi) for r in rule.port_ranges})
        if not ranges:
            return [(proto,)]
        return [(proto, ruleset.Ports(ruleset.Side.DST, tuple(ranges)))]
    icmp = (ruleset.Icmp(rule.icmp_type, rule.icmp_code),) if rule.icmp_type is not None else ()
    if rule.protocol is model.Protocol.ICMP and rule.icmp_type is None:
        # Without a type, "icmp" means ICMP of either family; types are ICMPv4 numbers.
        return [(ruleset.Protocol(ruleset.Proto.ICMP),), (ruleset.Protocol(ruleset.Proto.ICMPV6),)]
    return [(ruleset.Protocol(ruleset.Proto(rule.protocol.value)), *icmp)]


def one_family(matches: tuple[ruleset.MatchExpr, ...]) -> bool:
    """Whether ``matches`` can hold together: they name at most one address family."""
    versions = {m.match.version for m in matches if isinstance(m, ruleset.Address)}
    versions |= {m.version for m in matches if isinstance(m, ruleset.InSet)}
    versions |= {
        m.protocol.version
        for m in matches
        if isinstance(m, ruleset.Protocol) and m.protocol.version is not None
    }
    return len(versions) <= 1
