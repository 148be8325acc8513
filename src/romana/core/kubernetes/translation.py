"""Kubernetes NetworkPolicy → Romana policies and address sets; pure translation.

Mapping: a namespace is a tenant of the same name; a pod's ``romana.io/segment`` label
(:attr:`Settings.segment_label`) names its segment (``default`` without it); a node is a host.

Each NetworkPolicy ``<ns>/<name>`` becomes the Romana allow policy ``kube.<ns>.<name>``
applied to what its podSelector picks, with one clause per rule (peers × ports). How a
selection compiles:

* a whole namespace (empty podSelector, or a namespaceSelector alone) → the tenant's mask;
* exactly the segment label (``{romana.io/segment: s}``) → the segment's mask;
* anything else → a named address set (``kube.<digest>``) defined by the namespaces it
  covers, the pod selector and, for named ports, the port; :func:`address_sets` computes
  its members from the pods, so the rules never change when pods come and go;
* ipBlock → CIDRs: the block minus its ``except`` prefixes, split into the CIDRs that cover
  the rest exactly.

Named ports resolve on the pod that receives the traffic: for ingress on the policy's
target pods, so an ingress rule naming a port adds one policy per port number in use,
``kube.<ns>.<name>:<i>``, applied to the target pods that define the name with that number;
for egress on the peer pods, as address sets of peers with that number. A named port never
matches an ipBlock peer (it cannot name a port of an address outside the cluster).

A direction among the policy's types with no rules isolates without allowing: its clause
names the always-empty set :data:`NOTHING`. Targets picked by a set are that set narrowed to
the policy's namespace (``{"address_set": ..., "tenant": ns}``), which is what isolates them:
a namespace's tenant is created in ``kubernetes`` isolation mode (:data:`ISOLATION`), and the
compiler gives such a tenant NetworkPolicy semantics — its pods that no ingress policy
selects accept everything. Nothing here depends on a policy's name: ``kube.`` ids only keep
translated policies apart from others for the sync.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from romana.core import addressing, tenancy
from romana.core.kubernetes import SEGMENT_LABEL as SEGMENT_LABEL
from romana.core.kubernetes import networkpolicy
from romana.core.kubernetes import objects as ko
from romana.core.policy import model, selectors

PREFIX = "kube."
NOTHING = "kube.none"
DEFAULT_SEGMENT = "default"
ISOLATION = tenancy.KUBERNETES
"""The isolation of a namespace's tenant."""
VIP_POOL = "kubernetes"
"""The external pool of Services' VIPs unless configured otherwise (``--vip-pool``)."""


@dataclass(frozen=True, slots=True)
class Settings:
    segment_label: str = SEGMENT_LABEL
    """The pod label whose value names the pod's segment."""
    vip_pool: str = VIP_POOL
    """The external pool of a Service's VIP when its annotation names none."""


@dataclass(frozen=True, slots=True, order=True)
class SetDefinition:
    """Pods of ``namespaces`` (None: every namespace) that ``pods`` selects, and when ``port``
    is given ((protocol, name, number)), that define a container port of that name and number."""

    namespaces: tuple[str, ...] | None
    pods: selectors.Selector
    port: tuple[str, str, int] | None = None

    def canonical(self) -> str:
        where = "*" if self.namespaces is None else ",".join(self.namespaces)
        port = "" if self.port is None else " port {}/{}={}".format(*self.port)
        return f"{where} {self.pods.canonical()}{port}"

    @property
    def name(self) -> str:
        return PREFIX + hashlib.sha1(self.canonical().encode()).hexdigest()[:12]

    def selects(self, pod: ko.Pod) -> bool:
        if pod.host_network or (
            self.namespaces is not None and pod.namespace not in self.namespaces
        ):
            return False
        if not self.pods.matches(pod.label_map):
            return False
        if self.port is None:
            return True
        proto, name, number = self.port
        return ko.NamedPort(name, number, proto) in pod.ports


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a Romana policy comes from: its NetworkPolicy and, per clause, the rule index."""

    policy: str
    ingress: tuple[int, ...] = ()
    egress: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Translation:
    policies: tuple[model.Policy, ...]
    sets: Mapping[str, SetDefinition]
    origins: Mapping[str, Origin] = field(default_factory=dict)


class KnownTenant(NamedTuple):
    """What a sync reads of an existing tenant: its segments, external id and isolation mode."""

    segments: set[str]
    external_id: str
    mode: str


def legacy_marker(document: Mapping[str, object]) -> str | None:
    """The namespace whose ``kube.<namespace>`` marker ``document`` is, else None.

    Earlier releases stored that marker (an allow-all policy on the namespace's tenant) to
    make the tenant isolate per pod; the tenant's isolation mode does that now. The marker is
    recognised by the whole document, never by its name alone."""
    name = str(document.get("name", ""))
    namespace = name[len(PREFIX) :]
    if not name.startswith(PREFIX) or not namespace or "." in namespace:
        return None
    marker = {
        "name": name,
        "description": (
            f"Kubernetes namespace {namespace}: pods no NetworkPolicy selects accept all"
        ),
        "action": "allow",
        "applied_to": [{"tenant": namespace}],
        "ingress": [{"peers": [{"peer": "any"}], "rules": [{"protocol": "any"}]}],
    }
    return namespace if {k: v for k, v in document.items() if k != "id"} == marker else None


def segment_of(pod: ko.Pod, settings: Settings) -> str:
    return pod.label_map.get(settings.segment_label) or DEFAULT_SEGMENT


def address_sets(
    sets: Mapping[str, SetDefinition], pods: Iterable[ko.Pod]
) -> dict[str, tuple[addressing.IPNetwork, ...]]:
    """The members of every set: the /32 or /128 of each selected pod; :data:`NOTHING` empty."""
    pods = list(pods)
    out: dict[str, tuple[addressing.IPNetwork, ...]] = {NOTHING: ()}
    for name, definition in sorted(sets.items()):
        out[name] = tuple(
            sorted(
                (ipaddress.ip_network(ip) for p in pods if definition.selects(p) for ip in p.ips),
                key=lambda n: (n.version, int(n.network_address)),
            )
        )
    return out


def translate(
    policies: Sequence[networkpolicy.NetworkPolicy],
    namespaces: Sequence[ko.Namespace],
    pods: Sequence[ko.Pod] = (),
    settings: Settings | None = None,
) -> Translation:
    """Every NetworkPolicy as Romana policies; ``pods`` only supply named port numbers."""
    t = _Translator(namespaces, pods, settings or Settings())
    for policy in sorted(policies, key=lambda p: (p.namespace, p.name)):
        t.policy(policy)
    return Translation(tuple(t.out), dict(sorted(t.sets.items())), t.origins)


class _Translator:
    def __init__(
        self, namespaces: Sequence[ko.Namespace], pods: Sequence[ko.Pod], settings: Settings
    ) -> None:
        self.namespaces = sorted(namespaces, key=lambda n: n.name)
        self.settings = settings
        self.numbers: dict[tuple[str, str], set[int]] = defaultdict(set)
        for pod in pods:
            for port in pod.ports:
                self.numbers[port.protocol, port.name].add(port.port)
        self.sets: dict[str, SetDefinition] = {}
        self.out: list[model.Policy] = []
        self.origins: dict[str, Origin] = {}

    def _set(self, definition: SetDefinition) -> model.Endpoint:
        self.sets[definition.name] = definition
        return model.Endpoint(address_set=definition.name)

    def _select(
        self, namespaces: Sequence[str], pods: selectors.Selector, port: tuple[str, str, int] | None
    ) -> list[model.Endpoint]:
        """Pods of ``namespaces`` picked by ``pods``: masks where they cover it, else a set."""
        if not namespaces:
            return []
        if port is None and pods.empty:
            return [model.Endpoint.of_tenant(ns) for ns in namespaces]
        only = pods.only_label()
        if port is None and only is not None and only[0] == self.settings.segment_label:
            return [model.Endpoint.of_tenant(ns, only[1]) for ns in namespaces]
        return [self._set(SetDefinition(tuple(sorted(namespaces)), pods, port))]

    def _targets(
        self, policy: networkpolicy.NetworkPolicy, port: tuple[str, str, int] | None
    ) -> tuple[model.Endpoint, ...]:
        """The pods ``policy`` applies to; a set is narrowed to the namespace's tenant."""
        return tuple(
            replace(e, tenant=model.TenantRef(name=policy.namespace)) if e.address_set else e
            for e in self._select([policy.namespace], policy.pod_selector, port)
        )

    def _namespaces(self, selector: selectors.Selector) -> list[str]:
        return [n.name for n in self.namespaces if selector.matches(n.label_map)]

    def _peers(
        self,
        policy: networkpolicy.NetworkPolicy,
        rule: networkpolicy.Rule,
        port: tuple[str, str, int] | None,
    ) -> list[model.Endpoint]:
        if not rule.peers:
            if port is None:
                return [model.Endpoint(peer=model.Peer.ANY)]
            return [self._set(SetDefinition(None, selectors.EVERYTHING, port))]
        out: list[model.Endpoint] = []
        for peer in rule.peers:
            if peer.ip_block is not None:
                if port is None:
                    out += [model.Endpoint(cidr=c) for c in _block(peer.ip_block)]
                continue
            pod_sel = peer.pod_selector or selectors.EVERYTHING
            if peer.namespace_selector is None:
                out += self._select([policy.namespace], pod_sel, port)
            else:
                out += self._select(self._namespaces(peer.namespace_selector), pod_sel, port)
        return out

    def policy(self, policy: networkpolicy.NetworkPolicy) -> None:
        name = f"{PREFIX}{policy.namespace}.{policy.name}"
        targets = self._targets(policy, None)
        ingress, in_origin, named = self._clauses(policy, policy.ingress, ingress=True)
        egress, out_origin, _ = self._clauses(policy, policy.egress, ingress=False)
        nothing = (
            model.Clause((model.Endpoint(address_set=NOTHING),), (model.Rule(model.Protocol.ANY),)),
        )
        if policy.isolates_ingress and not ingress:
            ingress, in_origin = nothing, (-1,)
        if policy.isolates_egress and not egress:
            egress, out_origin = nothing, (-1,)
        self.out.append(model.Policy(name, targets, ingress, egress, external_id=policy.uid))
        self.origins[name] = Origin(policy.key, in_origin, out_origin)
        for i, (port, clause, index) in enumerate(named):
            split = f"{name}:{i}"
            self.out.append(model.Policy(split, self._targets(policy, port), (clause,)))
            self.origins[split] = Origin(policy.key, (index,))

    def _clauses(
        self,
        policy: networkpolicy.NetworkPolicy,
        rules: Sequence[networkpolicy.Rule],
        *,
        ingress: bool,
    ) -> tuple[
        tuple[model.Clause, ...],
        tuple[int, ...],
        list[tuple[tuple[str, str, int], model.Clause, int]],
    ]:
        clauses: list[model.Clause] = []
        origin: list[int] = []
        named: list[tuple[tuple[str, str, int], model.Clause, int]] = []
        for index, rule in enumerate(rules):
            numeric = [p for p in rule.ports if not isinstance(p.port, str)]
            if not rule.ports or numeric:
                peers = self._peers(policy, rule, None)
                if peers:
                    clauses.append(
                        model.Clause(
                            tuple(peers),
                            tuple(_rule(p) for p in numeric) or (model.Rule(model.Protocol.ANY),),
                        )
                    )
                    origin.append(index)
            for port in rule.ports:
                if not isinstance(port.port, str):
                    continue
                for number in sorted(self.numbers[port.protocol, port.port]):
                    resolved = (port.protocol, port.port, number)
                    proto_rule = model.Rule(model.Protocol(port.protocol.lower()), ports=(number,))
                    if ingress:
                        peers = self._peers(policy, rule, None)
                        if peers:
                            named.append(
                                (resolved, model.Clause(tuple(peers), (proto_rule,)), index)
                            )
                        continue
                    peers = self._peers(policy, rule, resolved)
                    if peers:
                        clauses.append(model.Clause(tuple(peers), (proto_rule,)))
                        origin.append(index)
        return tuple(clauses), tuple(origin), named


def _rule(port: networkpolicy.Port) -> model.Rule:
    proto = model.Protocol(port.protocol.lower())
    if port.port is None:
        return model.Rule(proto)
    assert isinstance(port.port, int)
    if port.end_port is not None and port.end_port != port.port:
        return model.Rule(proto, port_ranges=(model.PortRange(port.port, port.end_port),))
    return model.Rule(proto, ports=(port.port,))


def _block(block: networkpolicy.IpBlock) -> list[addressing.IPNetwork]:
    """The CIDRs that cover ``block.cidr`` minus its excepts exactly."""
    remaining: list[addressing.IPNetwork] = [block.cidr]
    for excluded in block.excepts:
        nxt: list[addressing.IPNetwork] = []
        for net in remaining:
            if net.overlaps(excluded):
                if net.subnet_of(excluded):  # type: ignore[arg-type]
                    continue
                nxt += net.address_exclude(excluded)  # type: ignore[arg-type]
            else:
                nxt.append(net)
        remaining = nxt
    return sorted(remaining, key=lambda n: (n.version, int(n.network_address), n.prefixlen))
