"""ClusterNetworkPolicy (``policy.networking.k8s.io``) as frozen values, and tier order.

A :class:`ClusterNetworkPolicy` is what :func:`romana.core.kubernetes.cnp.parse.parse`
makes of a valid document: every limit of the API already checked, every selector
canonical, every CIDR a network with its host bits clear. Values here never hold a
half-valid policy; what romana reads in its own way (a masked CIDR, a ``domainNames`` peer)
is named in the policy's ``notes``.

Order within a tier (:func:`ordered`): ascending ``priority`` (0 is evaluated first), then
the rules of one policy in the order written. The API lets two policies of one tier share a
priority and leaves which of them applies first to the implementation ("the implementation
can apply any of the matching policies"; upstream ``CNPAdminTierSamePriority`` checks that
all of them apply). Romana breaks the tie by policy name, so ``romana explain`` and the
compiled rules always agree; :func:`priority_clashes` names such ties so that an operator
can see them, as warnings, never as a refusal: the API accepts such objects.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NewType

from romana.core import addressing
from romana.core.policy import selectors

PolicyName = NewType("PolicyName", str)
"""A ClusterNetworkPolicy's ``metadata.name``: unique in the cluster (the object is
cluster-scoped). Crosses as the policy a decision names (``romana explain``) and, once wired,
as the key of the translated policies."""

MIN_PRIORITY = 0
MAX_PRIORITY = 1000
MAX_RULES = 25
"""Per direction (``spec.ingress``, ``spec.egress``)."""
MAX_PEERS = 25
MAX_PROTOCOLS = 25
MAX_NETWORKS = 25
MAX_RULE_NAME = 100
MAX_CIDR_TEXT = 43


class Tier(StrEnum):
    ADMIN = "Admin"
    BASELINE = "Baseline"


class Action(StrEnum):
    ACCEPT = "Accept"
    DENY = "Deny"
    PASS = "Pass"


class Direction(StrEnum):
    INGRESS = "ingress"
    EGRESS = "egress"


PROTOCOLS = ("TCP", "UDP", "SCTP")


@dataclass(frozen=True, slots=True)
class Pods:
    """Pods of the namespaces ``namespaces`` selects that ``pods`` selects.

    A ``namespaces`` subject or peer is this with ``pods`` selecting every pod; an empty
    selector selects everything. Host-network pods are never selected (API: "host-networked
    pods are not included")."""

    namespaces: selectors.Selector
    pods: selectors.Selector = selectors.EVERYTHING

    def selects(self, namespace_labels: Mapping[str, str], pod_labels: Mapping[str, str]) -> bool:
        return self.namespaces.matches(namespace_labels) and self.pods.matches(pod_labels)


@dataclass(frozen=True, slots=True)
class Peer:
    """One ``from``/``to`` entry; exactly one of the four is given.

    ``networks`` (egress only) matches any address inside one of the CIDRs, pods' included;
    ``nodes`` (egress only) matches the addresses of the nodes it selects;
    ``domain_names`` (egress only) matches nothing: romana cannot enforce domain names (a
    Deny or Pass rule with one is read as a Deny of every address instead, see
    :mod:`.parse`)."""

    pods: Pods | None = None
    networks: tuple[addressing.IPNetwork, ...] = ()
    nodes: selectors.Selector | None = None
    domain_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PortMatch:
    """One entry of ``protocols``: a protocol with a port or an inclusive port range, or a
    destination named port (``name``), which holds whatever protocol the destination pod's
    container port of that name has."""

    protocol: str = ""
    start: int = 0
    end: int = 0
    name: str = ""

    def __str__(self) -> str:
        if self.name:
            return f"named port {self.name}"
        if self.start == self.end:
            return f"{self.protocol}/{self.start}"
        return f"{self.protocol}/{self.start}-{self.end}"


@dataclass(frozen=True, slots=True)
class Rule:
    """An ingress or egress rule: ``action`` for traffic with any of ``peers`` that matches
    any of ``ports`` (none given: every protocol and port, ICMP included)."""

    index: int
    action: Action
    peers: tuple[Peer, ...]
    ports: tuple[PortMatch, ...] = ()
    name: str = ""


@dataclass(frozen=True, slots=True)
class ClusterNetworkPolicy:
    name: PolicyName
    tier: Tier
    priority: int
    subject: Pods
    ingress: tuple[Rule, ...] = ()
    egress: tuple[Rule, ...] = ()
    uid: str = ""
    notes: tuple[str, ...] = field(default=(), compare=False)
    """What romana reads other than as written, each at its field path (see :mod:`.parse`).
    Not part of the policy's meaning: neither compared nor dumped."""

    def rules(self, direction: Direction) -> tuple[Rule, ...]:
        return self.ingress if direction is Direction.INGRESS else self.egress


def ordered(policies: Iterable[ClusterNetworkPolicy], tier: Tier) -> list[ClusterNetworkPolicy]:
    """The policies of ``tier`` in evaluation order: priority, then name (see the module)."""
    return sorted((p for p in policies if p.tier is tier), key=lambda p: (p.priority, p.name))


@dataclass(frozen=True, slots=True)
class PriorityClash:
    """Policies of one tier sharing one priority: which applies first is romana's choice
    (by name), not the API's."""

    tier: Tier
    priority: int
    names: tuple[PolicyName, ...]

    def __str__(self) -> str:
        names = ", ".join(self.names)
        return (
            f"{self.tier} tier, priority {self.priority}: {names} share a priority; where "
            "their rules overlap, the first by name applies (give them distinct priorities "
            "to choose)"
        )


def priority_clashes(policies: Iterable[ClusterNetworkPolicy]) -> tuple[PriorityClash, ...]:
    """Every (tier, priority) that two or more policies share, in tier and priority order.

    Warnings, not errors: the API allows shared priorities (see the module)."""
    groups: dict[tuple[Tier, int], list[PolicyName]] = defaultdict(list)
    for policy in policies:
        groups[policy.tier, policy.priority].append(policy.name)
    tiers = list(Tier)
    return tuple(
        PriorityClash(tier, priority, tuple(sorted(names)))
        for (tier, priority), names in sorted(
            groups.items(), key=lambda item: (tiers.index(item[0][0]), item[0][1])
        )
        if len(names) > 1
    )
