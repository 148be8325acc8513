"""The Romana policy model: what a policy says, independent of the JSON shape it came in.

A policy names the endpoints it is ``applied_to`` (its *targets*) and lists clauses, each
``{peers, rules}``: traffic between a target and any of the peers that matches any of the
rules. ``ingress`` clauses describe traffic arriving at a target, ``egress`` clauses traffic
leaving it. ``action`` says whether the policy opens (``allow``, the default) or closes
(``deny``) that traffic.

Endpoints are exactly one of:

* ``peer``: ``any`` (every address), ``host`` (this host's gateways), ``local`` (every
  endpoint on this host) — peers only;
* ``dest``: ``host`` (the host itself) or ``local`` (every local endpoint) — targets only;
* ``cidr`` — peers only;
* a tenant, optionally narrowed to one of its segments;
* ``address_set``: a named address set whose membership is kept elsewhere (for example the
  endpoints a Kubernetes podSelector picks). As a target it may be narrowed to one tenant
  (``tenant`` given too): its members in that tenant. Only such a narrowed set isolates the
  endpoints it picks in a ``kubernetes``-mode tenant (see :mod:`romana.core.policy.trees`).

Tenants are referred to by name, by external id, or by number (their id in the address);
several of these may be given together and must then all hold for the same tenant.

A *tiered* policy (``tier`` ``admin`` or ``baseline``, with a ``priority``) is the cluster
admin's: each of its clauses is one rule with its own ``action`` — ``allow``, ``deny`` or
``pass`` — evaluated in order, before (Admin) or after (Baseline) every ordinary policy
(:mod:`romana.core.policy.tiers`). It is never owned by a tenant
(:func:`romana.core.policy.ids.owner`).

Values are frozen and validated by :mod:`romana.core.policy.parse`; :meth:`Policy.to_dict`
gives the canonical JSON shape, and parsing it gives back an equal policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from romana.core import addressing


class Direction(StrEnum):
    INGRESS = "ingress"
    EGRESS = "egress"


class Action(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    PASS = "pass"
    """Only as a clause action of a tiered policy: skip the rest of its tier."""


class Tier(StrEnum):
    """A cluster-admin tier (:mod:`romana.core.policy.tiers`): ``admin`` policies are
    evaluated before ordinary policies, ``baseline`` ones after them."""

    ADMIN = "admin"
    BASELINE = "baseline"


MIN_PRIORITY = 0
MAX_PRIORITY = 1000
MAX_RULE_NAME = 100


class Protocol(StrEnum):
    TCP = "tcp"
    UDP = "udp"
    SCTP = "sctp"
    ICMP = "icmp"
    ICMPV6 = "icmpv6"
    ANY = "any"


PORT_PROTOCOLS = frozenset({Protocol.TCP, Protocol.UDP, Protocol.SCTP})
ICMP_PROTOCOLS = frozenset({Protocol.ICMP, Protocol.ICMPV6})


class Peer(StrEnum):
    ANY = "any"
    HOST = "host"
    LOCAL = "local"


class Dest(StrEnum):
    HOST = "host"
    LOCAL = "local"


class Kind(StrEnum):
    """What an endpoint selects; derived from which fields are set."""

    ANY = "any"
    HOST = "host"
    LOCAL = "local"
    CIDR = "cidr"
    TENANT = "tenant"
    SEGMENT = "segment"
    ADDRESS_SET = "address_set"


@dataclass(frozen=True, slots=True)
class TenantRef:
    name: str | None = None
    external_id: str | None = None
    number: int | None = None

    def __str__(self) -> str:
        parts = [
            self.name,
            self.external_id and f"external id {self.external_id}",
            self.number is not None and f"id {self.number}",
        ]
        return "tenant " + "/".join(str(p) for p in parts if p)


@dataclass(frozen=True, slots=True)
class SegmentRef:
    name: str | None = None
    number: int | None = None

    def __str__(self) -> str:
        return f"segment {self.name if self.name is not None else f'id {self.number}'}"


@dataclass(frozen=True, slots=True)
class Endpoint:
    peer: Peer | None = None
    dest: Dest | None = None
    cidr: addressing.IPNetwork | None = None
    tenant: TenantRef | None = None
    segment: SegmentRef | None = None
    address_set: str | None = None

    @property
    def kind(self) -> Kind:
        if self.peer is not None:
            return Kind(self.peer.value)
        if self.dest is not None:
            return Kind(self.dest.value)
        if self.cidr is not None:
            return Kind.CIDR
        if self.address_set is not None:
            return Kind.ADDRESS_SET
        return Kind.SEGMENT if self.segment is not None else Kind.TENANT

    def __str__(self) -> str:
        kind = self.kind
        if kind is Kind.CIDR:
            return f"cidr {self.cidr}"
        if kind is Kind.ADDRESS_SET:
            where = f" in {self.tenant}" if self.tenant is not None else ""
            return f"address set {self.address_set}{where}"
        if kind is Kind.TENANT:
            return str(self.tenant)
        if kind is Kind.SEGMENT:
            return f"{self.tenant} {self.segment}"
        return str(kind)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.peer is not None:
            out["peer"] = self.peer.value
        if self.dest is not None:
            out["dest"] = self.dest.value
        if self.cidr is not None:
            out["cidr"] = str(self.cidr)
        if self.address_set is not None:
            out["address_set"] = self.address_set
        if self.tenant is not None:
            if self.tenant.name is not None:
                out["tenant"] = self.tenant.name
            if self.tenant.external_id is not None:
                out["tenant_external_id"] = self.tenant.external_id
            if self.tenant.number is not None:
                out["tenant_network_id"] = self.tenant.number
        if self.segment is not None:
            if self.segment.name is not None:
                out["segment"] = self.segment.name
            if self.segment.number is not None:
                out["segment_network_id"] = self.segment.number
        return out

    @classmethod
    def of_tenant(cls, tenant: str, segment: str | None = None) -> Endpoint:
        return cls(
            tenant=TenantRef(name=tenant),
            segment=SegmentRef(name=segment) if segment is not None else None,
        )


@dataclass(frozen=True, slots=True)
class PortRange:
    lo: int
    hi: int


@dataclass(frozen=True, slots=True)
class Rule:
    protocol: Protocol
    ports: tuple[int, ...] = ()
    port_ranges: tuple[PortRange, ...] = ()
    icmp_type: int | None = None
    icmp_code: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"protocol": self.protocol.value}
        if self.ports:
            out["ports"] = list(self.ports)
        if self.port_ranges:
            out["port_ranges"] = [[r.lo, r.hi] for r in self.port_ranges]
        if self.icmp_type is not None:
            out["icmp_type"] = self.icmp_type
        if self.icmp_code is not None:
            out["icmp_code"] = self.icmp_code
        return out


@dataclass(frozen=True, slots=True)
class Clause:
    """Traffic between the targets and any of ``peers`` that matches any of ``rules``.

    In a tiered policy a clause is one rule of its tier: ``action`` (allow, deny or pass)
    says what it does, ``name`` names it, and ``targets`` (address sets), when given, narrow
    it to those of the policy's targets that are members of one of them. In an ordinary
    policy the three are unset and the policy's action applies."""

    peers: tuple[Endpoint, ...]
    rules: tuple[Rule, ...]
    action: Action | None = None
    name: str = ""
    targets: tuple[Endpoint, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.action is not None:
            out["action"] = self.action.value
        if self.name:
            out["name"] = self.name
        out["peers"] = [p.to_dict() for p in self.peers]
        out["rules"] = [r.to_dict() for r in self.rules]
        if self.targets:
            out["targets"] = [t.to_dict() for t in self.targets]
        return out


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    applied_to: tuple[Endpoint, ...]
    ingress: tuple[Clause, ...] = ()
    egress: tuple[Clause, ...] = ()
    action: Action = Action.ALLOW
    description: str = ""
    external_id: str = ""
    tier: Tier | None = None
    """None: an ordinary policy (NetworkPolicy, Romana-native); else its cluster-admin tier,
    where each clause carries its own action and ``action`` is unused."""
    priority: int = 0
    """Order within the tier: ascending, ties by id."""

    @property
    def directions(self) -> tuple[Direction, ...]:
        return tuple(
            d
            for d, clauses in ((Direction.INGRESS, self.ingress), (Direction.EGRESS, self.egress))
            if clauses
        )

    def clauses(self, direction: Direction) -> tuple[Clause, ...]:
        return self.ingress if direction is Direction.INGRESS else self.egress

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        if self.external_id:
            out["external_id"] = self.external_id
        if self.tier is None:
            out["action"] = self.action.value
        else:
            out["tier"] = self.tier.value
            out["priority"] = self.priority
        out["applied_to"] = [e.to_dict() for e in self.applied_to]
        for direction in self.directions:
            out[direction.value] = [c.to_dict() for c in self.clauses(direction)]
        return out
