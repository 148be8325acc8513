"""ClusterNetworkPolicy → tiered Romana policies and address sets; pure translation.

Each ClusterNetworkPolicy ``<name>`` becomes the tiered policy ``kube.cnp:<name>`` (tier
``admin`` or ``baseline``, its priority, a description naming the object), applied to what
its subject selects, with one clause per rule in the order written — or several consecutive
clauses of the rule's action and name where a named port resolves to several numbers — so
clause order is rule order. Selections compile as the NetworkPolicy translation's do
(:mod:`~romana.core.kubernetes.translation`):

* every pod of a namespace → the tenant's mask, one endpoint per namespace selected;
* exactly the segment label → the segment's mask in each namespace selected;
* any other pod selector → an address set (:class:`translation.SetDefinition` of the
  namespaces the namespace selector picks), whose members :func:`address_sets` computes;
* ``networks`` → one CIDR each; ``nodes`` → a node set (:class:`NodeSet`, ``kube.nodes.*``)
  whose members are the selected nodes' addresses, every InternalIP and ExternalIP.

A subject or peer that selects no namespace contributes nothing; a clause left without a
peer names the always-empty set :data:`translation.NOTHING`, and so does an applied_to
left empty. Actions map Accept → allow, Deny → deny, Pass → pass; no ``protocols`` → every
protocol.

A ``destinationNamedPort`` resolves on the receiving pod. Ingress: one clause per
(protocol, number) the subject's pods define under that name, narrowed (``targets``) to the
pods defining it (a port set of every namespace); egress: one clause per (protocol, number)
the peer pods define, each peer narrowed to its pods defining it. A name no pod defines
matches nothing: it adds no clause. A policy left with no clause at all (no rules, or only
named ports nobody defines) can decide nothing and is not stored.

Shared priorities within a tier are legal but let the tie-break (by id) decide: they are
given as :attr:`Translation.notes`, after what each policy's reading noted (a masked CIDR, a
``domainNames`` peer romana cannot enforce: :mod:`.cnp.parse`).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from romana.core import addressing
from romana.core.kubernetes import objects as ko
from romana.core.kubernetes import translation
from romana.core.kubernetes.cnp import model as cnp
from romana.core.policy import model, selectors

PREFIX = translation.PREFIX + "cnp:"
"""Of every translated ClusterNetworkPolicy's name: ``kube.cnp:<name>``."""
NODE_SET_PREFIX = translation.PREFIX + "nodes."
_TIERS = {cnp.Tier.ADMIN: model.Tier.ADMIN, cnp.Tier.BASELINE: model.Tier.BASELINE}
_ACTIONS = {
    cnp.Action.ACCEPT: model.Action.ALLOW,
    cnp.Action.DENY: model.Action.DENY,
    cnp.Action.PASS: model.Action.PASS,
}
_NOTHING = model.Endpoint(address_set=translation.NOTHING)
_ANY = (model.Rule(model.Protocol.ANY),)


@dataclass(frozen=True, slots=True, order=True)
class NodeSet:
    """The addresses of the nodes ``nodes`` selects."""

    nodes: selectors.Selector

    @property
    def name(self) -> str:
        digest = hashlib.sha1(f"nodes {self.nodes.canonical()}".encode()).hexdigest()[:12]
        return NODE_SET_PREFIX + digest

    def selects(self, node: ko.Node) -> bool:
        return self.nodes.matches(dict(node.labels))


Definition = translation.SetDefinition | NodeSet


@dataclass(frozen=True, slots=True)
class Translation:
    policies: tuple[model.Policy, ...]
    sets: Mapping[str, Definition]
    origins: Mapping[str, translation.Origin] = field(default_factory=dict)
    """Policy name → its ClusterNetworkPolicy and, per clause, the rule index."""
    notes: tuple[str, ...] = ()


def policy_name(name: str) -> str:
    return PREFIX + name


def translate(
    policies: Sequence[ko.ClusterNetworkPolicy],
    namespaces: Sequence[ko.Namespace],
    pods: Sequence[ko.Pod] = (),
    settings: translation.Settings | None = None,
) -> Translation:
    """Every ClusterNetworkPolicy as a tiered policy; ``pods`` supply named port numbers."""
    t = _Translator(namespaces, pods, settings or translation.Settings())
    for policy in sorted(policies, key=lambda p: p.name):
        t.policy(policy)
    notes = tuple(
        f"ClusterNetworkPolicy {p.name}: {note}"
        for p in sorted(policies, key=lambda p: p.name)
        for note in p.notes
    ) + tuple(f"ClusterNetworkPolicy: {c}" for c in cnp.priority_clashes(policies))
    return Translation(tuple(t.out), dict(sorted(t.sets.items())), t.origins, notes)


def address_sets(
    sets: Mapping[str, Definition], pods: Iterable[ko.Pod], nodes: Iterable[ko.Node]
) -> dict[str, tuple[addressing.IPNetwork, ...]]:
    """The members of every set: pod sets as :func:`translation.address_sets` gives them, a
    node set the /32 or /128 of every address of each selected node (``status.addresses``'
    InternalIPs and ExternalIPs, both families; one that is not a valid address adds
    nothing)."""
    pod_sets = {n: d for n, d in sets.items() if isinstance(d, translation.SetDefinition)}
    out = translation.address_sets(pod_sets, pods)
    nodes = list(nodes)
    for name, definition in sorted(sets.items()):
        if isinstance(definition, NodeSet):
            found = {_network(ip) for n in nodes if definition.selects(n) for ip in n.ips}
            out[name] = tuple(
                sorted(
                    (n for n in found if n is not None),
                    key=lambda n: (n.version, int(n.network_address)),
                )
            )
    return out


def _network(ip: str) -> addressing.IPNetwork | None:
    try:
        return ipaddress.ip_network(ip)
    except ValueError:
        return None


_Named = list[tuple[tuple[model.Endpoint, ...], tuple[model.Rule, ...], tuple[model.Endpoint, ...]]]
"""(peers, rules, targets) of each clause a named port resolves to."""


class _Translator:
    def __init__(
        self,
        namespaces: Sequence[ko.Namespace],
        pods: Sequence[ko.Pod],
        settings: translation.Settings,
    ) -> None:
        self.namespaces = sorted(namespaces, key=lambda n: n.name)
        self.labels = {n.name: n.label_map for n in self.namespaces}
        self.pods = [p for p in pods if not p.host_network]
        self.settings = settings
        self.sets: dict[str, Definition] = {}
        self.out: list[model.Policy] = []
        self.origins: dict[str, translation.Origin] = {}

    def _set(self, definition: Definition) -> model.Endpoint:
        self.sets[definition.name] = definition
        return model.Endpoint(address_set=definition.name)

    def _namespaces(self, selector: selectors.Selector) -> list[str]:
        return [n.name for n in self.namespaces if selector.matches(n.label_map)]

    def _select(
        self, pods: cnp.Pods, port: tuple[str, str, int] | None = None
    ) -> list[model.Endpoint]:
        """The pods ``pods`` selects: masks where they cover a tenant or segment, else a set."""
        namespaces = self._namespaces(pods.namespaces)
        if not namespaces:
            return []
        if port is None and pods.pods.empty:
            return [model.Endpoint.of_tenant(ns) for ns in namespaces]
        only = pods.pods.only_label()
        if port is None and only is not None and only[0] == self.settings.segment_label:
            return [model.Endpoint.of_tenant(ns, only[1]) for ns in namespaces]
        return [self._set(translation.SetDefinition(tuple(namespaces), pods.pods, port))]

    def _members(self, pods: cnp.Pods) -> list[ko.Pod]:
        return [
            p
            for p in self.pods
            if p.namespace in self.labels and pods.selects(self.labels[p.namespace], p.label_map)
        ]

    def _peers(self, rule: cnp.Rule) -> list[model.Endpoint]:
        out: list[model.Endpoint] = []
        for peer in rule.peers:
            if peer.pods is not None:
                out += self._select(peer.pods)
            elif peer.nodes is not None:
                out.append(self._set(NodeSet(peer.nodes)))
            else:
                out += [model.Endpoint(cidr=n) for n in peer.networks]
        return out

    def policy(self, policy: ko.ClusterNetworkPolicy) -> None:
        name = policy_name(policy.name)
        ingress, in_origin = self._clauses(policy, cnp.Direction.INGRESS)
        egress, out_origin = self._clauses(policy, cnp.Direction.EGRESS)
        if not ingress and not egress:
            return
        self.out.append(
            model.Policy(
                name,
                tuple(self._select(policy.subject)) or (_NOTHING,),
                ingress,
                egress,
                description=f"Kubernetes ClusterNetworkPolicy {policy.name}",
                external_id=policy.uid,
                tier=_TIERS[policy.tier],
                priority=policy.priority,
            )
        )
        self.origins[name] = translation.Origin(policy.name, in_origin, out_origin)

    def _clauses(
        self, policy: ko.ClusterNetworkPolicy, direction: cnp.Direction
    ) -> tuple[tuple[model.Clause, ...], tuple[int, ...]]:
        clauses: list[model.Clause] = []
        origin: list[int] = []
        ingress = direction is cnp.Direction.INGRESS
        for rule in policy.rules(direction):
            action = _ACTIONS[rule.action]
            numeric = [m for m in rule.ports if not m.name]
            if not rule.ports or numeric:
                peers = tuple(self._peers(rule)) or (_NOTHING,)
                rules = tuple(_rule(m) for m in numeric) or _ANY
                clauses.append(model.Clause(peers, rules, action, rule.name))
                origin.append(rule.index)
            for match in rule.ports:
                if not match.name:
                    continue
                if ingress:
                    found = self._ingress_named(rule, match.name, self._members(policy.subject))
                else:
                    found = self._egress_named(rule, match.name)
                clauses += [model.Clause(p, r, action, rule.name, t) for p, r, t in found]
                origin += [rule.index] * len(found)
        return tuple(clauses), tuple(origin)

    def _ingress_named(self, rule: cnp.Rule, name: str, subject: Sequence[ko.Pod]) -> _Named:
        """(peers, rules, targets) per (protocol, number) the subject's pods name ``name``."""
        peers = tuple(self._peers(rule)) or (_NOTHING,)
        out: _Named = []
        for proto, number in _numbers(subject, name):
            port = (proto, name, number)
            targets = (self._set(translation.SetDefinition(None, selectors.EVERYTHING, port)),)
            out.append((peers, (_port_rule(proto, number),), targets))
        return out

    def _egress_named(self, rule: cnp.Rule, name: str) -> _Named:
        """(peers, rules, no targets) per (protocol, number) the peer pods name ``name``:
        each peer narrowed to its pods defining that number."""
        chosen = [p.pods for p in rule.peers if p.pods is not None]
        members = [self._members(pods) for pods in chosen]
        out: _Named = []
        for proto, number in _numbers([p for found in members for p in found], name):
            peers = [
                endpoint
                for pods, found in zip(chosen, members, strict=True)
                if (proto, number) in _numbers(found, name)
                for endpoint in self._select(pods, (proto, name, number))
            ]
            out.append((tuple(peers), (_port_rule(proto, number),), ()))
        return out


def _numbers(pods: Iterable[ko.Pod], name: str) -> list[tuple[str, int]]:
    """(protocol, number) of every container port named ``name`` among ``pods``, sorted."""
    return sorted({(p.protocol, p.port) for pod in pods for p in pod.ports if p.name == name})


def _port_rule(protocol: str, number: int) -> model.Rule:
    return model.Rule(model.Protocol(protocol.lower()), ports=(number,))


def _rule(match: cnp.PortMatch) -> model.Rule:
    proto = model.Protocol(match.protocol.lower())
    if match.start == match.end:
        return model.Rule(proto, ports=(match.start,))
    return model.Rule(proto, port_ranges=(model.PortRange(match.start, match.end),))
