"""Answer "may pod A reach pod B on PROTO/PORT?" from the model, with no packet sent.

A :class:`Cluster` is the Kubernetes model (namespaces, pods, NetworkPolicies) placed on an
address plan (networks and hosts). :func:`rulesets` translates it
(:mod:`romana.core.policy.kubernetes`) and compiles each host's ruleset exactly as the agent
does; :func:`explain` walks the source host's ruleset for egress and the destination host's
for ingress (one walk when both pods share a host) with :func:`evaluate.verdict`, and names
what decided each direction: the NetworkPolicy rule that allowed it, or the policies that
isolate the pod when nothing allowed it, or that no policy selects the pod.

Tenant ids follow the order of the namespaces and segment ids the sorted segment names in
use, unless the cluster gives them (:attr:`Cluster.tenancy`, as romanad numbered them); pods
without addresses get the lowest free ordinal of their (host, tenant, segment) slot
(:func:`with_addresses`), as IPAM would hand them out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from romana.core import addressing, ruleset
from romana.core.errors import InvalidInput, NotFound
from romana.core.policy import compile as policy_compile
from romana.core.policy import evaluate, kubernetes, resolve
from romana.core.policy import kubeobjects as ko


@dataclass(frozen=True, slots=True)
class Cluster:
    layouts: Mapping[str, addressing.Layout]
    hosts: Mapping[str, int]
    """Host name → its index in the address plan."""
    namespaces: tuple[ko.Namespace, ...]
    pods: tuple[ko.Pod, ...]
    policies: tuple[ko.NetworkPolicy, ...] = ()
    settings: kubernetes.Settings = field(default_factory=kubernetes.Settings)
    tenancy: tuple[resolve.Tenant, ...] = ()
    """The tenants with their ids and segments; empty: numbered from the namespaces."""

    def pod(self, key: str) -> ko.Pod:
        for p in self.pods:
            if p.key == key:
                return p
        raise NotFound(f"no pod {key!r} (give it as NAMESPACE/NAME)")


def tenants(cluster: Cluster) -> tuple[resolve.Tenant, ...]:
    if cluster.tenancy:
        return cluster.tenancy
    segments = sorted(
        {kubernetes.segment_of(p, cluster.settings) for p in cluster.pods}
        - {kubernetes.DEFAULT_SEGMENT}
    )
    numbered = {kubernetes.DEFAULT_SEGMENT: 0, **{s: i + 1 for i, s in enumerate(segments)}}
    return tuple(
        resolve.Tenant(ns.name, {n: i + 1 for n in cluster.layouts}, numbered)
        for i, ns in enumerate(cluster.namespaces)
    )


def with_addresses(cluster: Cluster) -> Cluster:
    """``cluster`` with an address from the plan for every pod that has none."""
    by_name = {t.name: t for t in tenants(cluster)}
    used: dict[tuple[str, str, int, int], int] = {}
    pods = []
    for pod in cluster.pods:
        if pod.ips or pod.host_network:
            pods.append(pod)
            continue
        if pod.node not in cluster.hosts or pod.namespace not in by_name:
            raise InvalidInput(f"pod {pod.key}: unknown node {pod.node!r} or namespace")
        tenant = by_name[pod.namespace]
        segment = tenant.segments[kubernetes.segment_of(pod, cluster.settings)]
        ips = []
        for network, lay in sorted(cluster.layouts.items()):
            slot = (network, pod.node, tenant.ids[network], segment)
            used[slot] = used.get(slot, 0) + 1
            index = cluster.hosts[pod.node]
            ips.append(addressing.encode(lay, index, tenant.ids[network], segment, used[slot]))
        pods.append(replace(pod, ips=tuple(ips)))
    return replace(cluster, pods=tuple(pods))


def translation(cluster: Cluster) -> kubernetes.Translation:
    return kubernetes.translate(
        cluster.policies, cluster.namespaces, cluster.pods, cluster.settings
    )


def compile_input(
    cluster: Cluster, tr: kubernetes.Translation, host: str
) -> policy_compile.CompileInput:
    index = cluster.hosts[host]
    lays = cluster.layouts.values()
    return policy_compile.CompileInput(
        layouts=cluster.layouts,
        tenants=tenants(cluster),
        host=host,
        host_prefixes=tuple(addressing.host_prefix(lay, index) for lay in lays),
        gateways=tuple(addressing.gateway(lay, index) for lay in lays),
        policies=tr.policies,
        address_sets=kubernetes.address_sets(tr.sets, cluster.pods),
        isolation_scopes=tr.scopes,
    )


def rulesets(cluster: Cluster) -> dict[str, ruleset.Ruleset]:
    tr = translation(cluster)
    return {h: policy_compile.compile_ruleset(compile_input(cluster, tr, h)) for h in cluster.hosts}


@dataclass(frozen=True, slots=True)
class Step:
    """One direction's verdict and what decided it."""

    allowed: bool
    decided_by: tuple[str, ...]
    trace: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Explanation:
    allowed: bool
    egress: Step
    ingress: Step


_RULE = re.compile(r"^romana-p[ie]-\S+: (?P<policy>\S+) (?P<dir>ingress|egress)\[(?P<i>\d+)\]")
_PASSED = "romana-egress-passed"


def explain(
    cluster: Cluster,
    src: str,
    dst: str,
    protocol: str,
    port: int,
    compiled: Mapping[str, ruleset.Ruleset] | None = None,
) -> Explanation:
    """Whether pod ``src`` may open a connection to pod ``dst`` on ``protocol``/``port``."""
    a, b = cluster.pod(src), cluster.pod(dst)
    if a.key == b.key:
        loopback = Step(True, ("loopback: traffic of a pod to itself never leaves the pod",))
        return Explanation(True, loopback, loopback)
    proto = ruleset.Proto(protocol.lower())
    versions = {ip.version for ip in a.ips} & {ip.version for ip in b.ips}
    if not versions:
        raise InvalidInput(f"pods {src} and {dst} have no address family in common")
    v = min(versions)
    sip = next(ip for ip in a.ips if ip.version == v)
    dip = next(ip for ip in b.ips if ip.version == v)
    rs = compiled if compiled is not None else rulesets(cluster)
    tr = translation(cluster)
    if a.node == b.node:
        packet = evaluate.Packet(sip, dip, proto, evaluate.Path.BETWEEN_ENDPOINTS, dport=port)
        walk = evaluate.verdict(rs[a.node], packet)
        passed = [i for i, r in enumerate(walk.reasons) if r.startswith(_PASSED)]
        cut = passed[0] + 1 if passed else len(walk.reasons)
        out_trace, in_trace = walk.reasons[:cut], walk.reasons[cut:]
        egress_ok, ingress_ok = bool(passed) or walk.allowed, walk.allowed
    else:
        out = evaluate.verdict(
            rs[a.node], evaluate.Packet(sip, dip, proto, evaluate.Path.FROM_ENDPOINT, dport=port)
        )
        inn = evaluate.verdict(
            rs[b.node], evaluate.Packet(sip, dip, proto, evaluate.Path.TO_ENDPOINT, dport=port)
        )
        out_trace, in_trace = out.reasons, inn.reasons
        egress_ok, ingress_ok = out.allowed, inn.allowed
    egress = Step(egress_ok, _decided(cluster, tr, a, "egress", out_trace, egress_ok), out_trace)
    if not egress_ok:
        ingress = Step(False, ("not evaluated: egress denied first",), ())
    else:
        decided = _decided(cluster, tr, b, "ingress", in_trace, ingress_ok)
        ingress = Step(ingress_ok, decided, in_trace)
    return Explanation(egress.allowed and ingress.allowed, egress, ingress)


def _decided(
    cluster: Cluster,
    tr: kubernetes.Translation,
    pod: ko.Pod,
    direction: str,
    trace: Sequence[str],
    allowed: bool,
) -> tuple[str, ...]:
    selecting = [
        p.key
        for p in cluster.policies
        if p.namespace == pod.namespace
        and p.pod_selector.matches(pod.label_map)
        and (p.isolates_ingress if direction == "ingress" else p.isolates_egress)
    ]
    if allowed:
        for line in trace:
            m = _RULE.match(line)
            if m and m["dir"] == direction and m["policy"] in tr.origins:
                origin = tr.origins[m["policy"]]
                indexes = origin.ingress if direction == "ingress" else origin.egress
                rule = indexes[int(m["i"])] if int(m["i"]) < len(indexes) else int(m["i"])
                return (f"allowed by NetworkPolicy {origin.policy} {direction} rule {rule}",)
            if m:
                return (f"allowed by Romana policy {m['policy']}",)
        if not selecting:
            return (f"{pod.key} is not isolated for {direction}: no NetworkPolicy selects it",)
        return ("allowed by the host's defaults (" + (trace[-2] if len(trace) > 1 else "") + ")",)
    if selecting:
        return (
            f"{pod.key} is isolated for {direction} by NetworkPolicy {', '.join(selecting)}",
            f"no {direction} rule of them allows this traffic",
        )
    return (f"denied by Romana rules: {trace[-2] if len(trace) > 1 else 'drop'}",)
