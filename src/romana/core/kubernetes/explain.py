"""Kubernetes objects on an address plan, as the model ``romana explain`` answers from.

``romana explain -f`` (offline YAML) and the NetworkPolicy scenario tests hold a cluster as
Kubernetes objects with no romanad. A :class:`Cluster` places them on an address plan
(networks, and hosts by their index in it); :func:`model` gives the
:class:`romana.core.policy.endpoints.Model` romanad would hold once the listener synced
them, and :class:`romana.core.policy.reach.Explainer` answers from it — the one explain
engine, compiling each host with :func:`romana.core.policy.hostrules.host_firewall` as the
agents do. Nothing here walks a ruleset or words a verdict.

Invariants:

* Each namespace is a tenant of the same name in ``kubernetes`` isolation mode
  (:data:`translation.ISOLATION`), with id (its position among the namespaces) + 1 in every
  network; segment ids are 0 for ``default``, then 1, 2 … for the sorted segment names the
  pods use.
* A pod without an address gets, in every network, the next ordinal of its (network, host,
  tenant, segment) slot in pod order, as IPAM would hand them out (:func:`with_addresses`);
  a pod's given addresses are kept as they are.
* The stored policies and address sets are what :func:`romana.core.kubernetes.sync.sync`
  stores: the translations' documents (``to_dict``) — NetworkPolicies' and
  ClusterNetworkPolicies' tiered ones — and :func:`cnptranslate.address_sets`, node sets
  holding the addresses the Node objects give.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from romana.core import addressing, tenancy
from romana.core.errors import InvalidInput, NotFound
from romana.core.identifiers import TenantName
from romana.core.kubernetes import cnptranslate, networkpolicy, record, translation
from romana.core.kubernetes import objects as ko
from romana.core.policy import endpoints

UNSCHEDULED = "node-1"
"""The node pods given with neither a node nor an address run on when no object names one."""


@dataclass(frozen=True, slots=True)
class Cluster:
    """Namespaces, pods, NetworkPolicies and ClusterNetworkPolicies on networks (``layouts``)
    and hosts."""

    layouts: Mapping[str, addressing.Layout]
    hosts: Mapping[str, int]
    """Host (node) name → its index in the address plan."""
    namespaces: tuple[ko.Namespace, ...]
    pods: tuple[ko.Pod, ...]
    policies: tuple[networkpolicy.NetworkPolicy, ...] = ()
    cluster_policies: tuple[ko.ClusterNetworkPolicy, ...] = ()
    nodes: tuple[ko.Node, ...] = ()
    """The Node objects given (their labels and addresses, for ``nodes`` peers)."""

    def pod(self, key: str) -> ko.Pod:
        for p in self.pods:
            if p.key == key:
                return p
        raise NotFound(f"no pod {key!r} (give it as NAMESPACE/NAME)")


def of_objects(
    objects: Iterable[ko.KubeObject], layouts: Mapping[str, addressing.Layout]
) -> Cluster:
    """The objects as a cluster, every pod with its addresses (:func:`with_addresses`).

    A pod's namespace exists in any cluster that runs the pod, so one missing from
    ``objects`` is made, labelled as the API server would label it. Hosts are the Nodes in
    the order given, then the other nodes pods name, sorted; host indexes count from 1. A pod
    with neither a node nor an address (as ``kubectl run`` writes one, before the scheduler
    placed it) runs on the first of those hosts, or on :data:`UNSCHEDULED` when there is
    none: where a pod runs decides its address, not what a policy lets it reach."""
    parsed = list(objects)
    namespaces = tuple(o for o in parsed if isinstance(o, ko.Namespace))
    pods = tuple(o for o in parsed if isinstance(o, ko.Pod))
    given = tuple(o for o in parsed if isinstance(o, ko.Node))
    nodes = [n.name for n in given]
    nodes += sorted({p.node for p in pods if p.node} - set(nodes))
    unplaced = {i for i, p in enumerate(pods) if not (p.node or p.ips or p.host_network)}
    if unplaced and not nodes:
        nodes = [UNSCHEDULED]
    pods = tuple(replace(p, node=nodes[0]) if i in unplaced else p for i, p in enumerate(pods))
    known = {n.name for n in namespaces}
    namespaces += tuple(
        ko.admitted(ko.Namespace(n)) for n in sorted({p.namespace for p in pods} - known)
    )
    policies = tuple(o for o in parsed if isinstance(o, networkpolicy.NetworkPolicy))
    cluster_policies = tuple(o for o in parsed if isinstance(o, ko.ClusterNetworkPolicy))
    hosts = {n: i + 1 for i, n in enumerate(nodes)}
    cluster = Cluster(layouts, hosts, namespaces, pods, policies, cluster_policies, given)
    return with_addresses(cluster)


def tenants(cluster: Cluster) -> tuple[tenancy.Tenant, ...]:
    """One tenant per namespace, in ``kubernetes`` isolation mode (see the invariants)."""
    settings = translation.Settings()
    segments = sorted(
        {translation.segment_of(p, settings) for p in cluster.pods} - {translation.DEFAULT_SEGMENT}
    )
    numbered = {translation.DEFAULT_SEGMENT: 0, **{s: i + 1 for i, s in enumerate(segments)}}
    return tuple(
        tenancy.Tenant(
            TenantName(ns.name),
            ns.uid,
            {network: i + 1 for network in cluster.layouts},
            numbered,
            isolation=translation.ISOLATION,
        )
        for i, ns in enumerate(cluster.namespaces)
    )


def with_addresses(cluster: Cluster) -> Cluster:
    """``cluster`` with an address in every network for each pod that has none."""
    by_name: dict[str, tenancy.Tenant] = {t.name: t for t in tenants(cluster)}
    settings = translation.Settings()
    used: dict[tuple[str, str, int, int], int] = {}
    pods = []
    for pod in cluster.pods:
        if pod.ips or pod.host_network:
            pods.append(pod)
            continue
        if not pod.node:
            raise InvalidInput(f"pod {pod.key}: give it a node (spec.nodeName) or an address")
        if pod.node not in cluster.hosts or pod.namespace not in by_name:
            raise InvalidInput(f"pod {pod.key}: unknown node {pod.node!r} or namespace")
        tenant = by_name[pod.namespace]
        segment = tenant.segments[translation.segment_of(pod, settings)]
        ips = []
        for network, lay in sorted(cluster.layouts.items()):
            slot = (network, pod.node, tenant.ids[network], segment)
            used[slot] = used.get(slot, 0) + 1
            index = cluster.hosts[pod.node]
            ips.append(addressing.encode(lay, index, tenant.ids[network], segment, used[slot]))
        pods.append(replace(pod, ips=tuple(ips)))
    return replace(cluster, pods=tuple(pods))


def model(cluster: Cluster) -> endpoints.Model:
    """What romanad would hold for ``cluster``: the model :mod:`reach` answers from."""
    tr = translation.translate(cluster.policies, cluster.namespaces, cluster.pods)
    tiered = cnptranslate.translate(cluster.cluster_policies, cluster.namespaces, cluster.pods)
    sets = {**tr.sets, **tiered.sets}
    hosts = tuple(
        endpoints.Host(
            name,
            tuple(
                (addressing.host_prefix(lay, index), addressing.gateway(lay, index))
                for _, lay in sorted(cluster.layouts.items())
            ),
        )
        for name, index in cluster.hosts.items()
    )
    return endpoints.Model(
        layouts=cluster.layouts,
        hosts=hosts,
        tenants=tenants(cluster),
        policies=tuple(p.to_dict() for p in (*tr.policies, *tiered.policies)),
        address_sets=cnptranslate.address_sets(sets, cluster.pods, cluster.nodes),
        namespaces=cluster.namespaces,
        pods=cluster.pods,
        networkpolicies=cluster.policies,
        clusternetworkpolicies=cluster.cluster_policies,
    )


def offline_model(documents: Sequence[Any], network: str, names: Sequence[str]) -> endpoints.Model:
    """``romana explain -f``: the model romanad would hold for ``documents`` (as files give
    them, :func:`romana.core.kubernetes.record.of_documents`).

    Pods without addresses are placed on ``network`` (CIDR,TENANT,SEGMENT,ENDPOINT bits);
    a NAMESPACE/POD among ``names`` that the documents lack is named as missing from them."""
    cidr, *bits = network.split(",")
    try:
        lay = addressing.layout("pods", cidr, *(int(b) for b in bits))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"--network {network!r}: CIDR,TENANT,SEGMENT,ENDPOINT bits") from exc
    cluster = of_objects(record.of_documents(documents), {lay.name: lay})
    outside = [f"{p.key} ({ip})" for p in cluster.pods for ip in p.ips if ip not in lay.cidr]
    if outside:
        raise InvalidInput(f"pod addresses must lie inside --network: {', '.join(outside)}")
    known = {n.name for n in cluster.namespaces}
    for name in names:
        namespace, slash, _ = name.partition("/")
        if slash and namespace not in known:
            raise NotFound(f"no namespace {namespace!r} in the given files (give NAMESPACE/POD)")
        if slash and all(p.key != name for p in cluster.pods):
            raise NotFound(f"no pod {name!r} in the given files")
    return model(cluster)
