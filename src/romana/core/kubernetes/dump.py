"""Kubernetes objects back to the API's JSON shape, keeping only what policy reads.

:func:`dump` is the inverse of :func:`romana.core.kubernetes.objects.parse` on what parsing
keeps: ``parse(dump(o)) == o`` for every Namespace, Node, Pod, NetworkPolicy, Service and
ClusterNetworkPolicy value, and a dumped document holds no field parsing ignores (no status
conditions, no managed fields). So a dump is a compact, canonical record of an object:
equal values dump to equal documents, which lets a store compare before it writes.

A NetworkPolicy dumps with its ``policyTypes`` spelled out and every port's protocol given,
so the defaulting rules of the API server play no part when it is read back. A
ClusterNetworkPolicy dumps as ``v1alpha2``; a subject or peer selecting every pod of the
namespaces it selects dumps as ``namespaces`` (the parsed value does not tell ``pods`` with an
empty ``podSelector`` apart from it, nor do the semantics).
"""

from __future__ import annotations

from typing import Any

from romana.core.kubernetes import networkpolicy, service
from romana.core.kubernetes import objects as ko
from romana.core.kubernetes.cnp import model as cnp
from romana.core.kubernetes.cnp import parse as cnp_parse


def _meta(
    name: str, namespace: str, labels: tuple[tuple[str, str], ...], uid: str
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    if uid:
        meta["uid"] = uid
    return meta


def namespace(ns: ko.Namespace) -> dict[str, Any]:
    return {"kind": "Namespace", "metadata": _meta(ns.name, "", ns.labels, ns.uid)}


def node(n: ko.Node) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": "Node", "metadata": _meta(n.name, "", n.labels, n.uid)}
    # The registration address first, so that it is read back as ``ip``; the others as
    # ExternalIP, which parsing reads into ``ips`` alike.
    rest = [a for a in n.ips if a != n.ip]
    addresses = [{"type": "InternalIP", "address": n.ip}] if n.ip else []
    addresses += [{"type": "ExternalIP", "address": a} for a in rest]
    if addresses:
        out["status"] = {"addresses": addresses}
    return out


def pod(p: ko.Pod) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if p.node:
        spec["nodeName"] = p.node
    if p.host_network:
        spec["hostNetwork"] = True
    if p.ports:
        ports = [{"name": x.name, "containerPort": x.port, "protocol": x.protocol} for x in p.ports]
        spec["containers"] = [{"ports": ports}]
    out: dict[str, Any] = {"kind": "Pod", "metadata": _meta(p.name, p.namespace, p.labels, p.uid)}
    if p.external_ip:
        out["metadata"]["annotations"] = {ko.EXTERNAL_IP_ANNOTATION: p.external_ip}
    if spec:
        out["spec"] = spec
    if p.ips:
        out["status"] = {"podIPs": [{"ip": str(ip)} for ip in p.ips]}
    return out


def _peer(peer: networkpolicy.Peer) -> dict[str, Any]:
    if peer.ip_block is not None:
        block: dict[str, Any] = {"cidr": str(peer.ip_block.cidr)}
        if peer.ip_block.excepts:
            block["except"] = [str(n) for n in peer.ip_block.excepts]
        return {"ipBlock": block}
    out: dict[str, Any] = {}
    if peer.pod_selector is not None:
        out["podSelector"] = peer.pod_selector.to_dict()
    if peer.namespace_selector is not None:
        out["namespaceSelector"] = peer.namespace_selector.to_dict()
    return out


def _port(port: networkpolicy.Port) -> dict[str, Any]:
    out: dict[str, Any] = {"protocol": port.protocol}
    if port.port is not None:
        out["port"] = port.port
    if port.end_port is not None:
        out["endPort"] = port.end_port
    return out


def _rules(rules: tuple[networkpolicy.Rule, ...], peers_key: str) -> list[dict[str, Any]]:
    out = []
    for rule in rules:
        item: dict[str, Any] = {}
        if rule.peers:
            item[peers_key] = [_peer(p) for p in rule.peers]
        if rule.ports:
            item["ports"] = [_port(p) for p in rule.ports]
        out.append(item)
    return out


def network_policy(p: networkpolicy.NetworkPolicy) -> dict[str, Any]:
    types = [t for t, on in (("Ingress", p.isolates_ingress), ("Egress", p.isolates_egress)) if on]
    spec: dict[str, Any] = {"podSelector": p.pod_selector.to_dict(), "policyTypes": types}
    if p.ingress:
        spec["ingress"] = _rules(p.ingress, "from")
    if p.egress:
        spec["egress"] = _rules(p.egress, "to")
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(p.name, p.namespace, (), p.uid),
        "spec": spec,
    }


def _pods(pods: cnp.Pods) -> dict[str, Any]:
    if pods.pods.empty:
        return {"namespaces": pods.namespaces.to_dict()}
    return {
        "pods": {"namespaceSelector": pods.namespaces.to_dict(), "podSelector": pods.pods.to_dict()}
    }


def _cnp_peer(peer: cnp.Peer) -> dict[str, Any]:
    if peer.pods is not None:
        return _pods(peer.pods)
    if peer.nodes is not None:
        return {"nodes": peer.nodes.to_dict()}
    if peer.domain_names:
        return {"domainNames": list(peer.domain_names)}
    return {"networks": [str(n) for n in peer.networks]}


def _protocol(match: cnp.PortMatch) -> dict[str, Any]:
    if match.name:
        return {"destinationNamedPort": match.name}
    if match.start == match.end:
        return {match.protocol.lower(): {"destinationPort": {"number": match.start}}}
    span = {"start": match.start, "end": match.end}
    return {match.protocol.lower(): {"destinationPort": {"range": span}}}


def _cnp_rules(rules: tuple[cnp.Rule, ...], peers_key: str) -> list[dict[str, Any]]:
    out = []
    for rule in rules:
        item: dict[str, Any] = {"action": rule.action.value}
        if rule.name:
            item["name"] = rule.name
        item[peers_key] = [_cnp_peer(p) for p in rule.peers]
        if rule.ports:
            item["protocols"] = [_protocol(m) for m in rule.ports]
        out.append(item)
    return out


def cluster_network_policy(p: cnp.ClusterNetworkPolicy) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "tier": p.tier.value,
        "priority": p.priority,
        "subject": _pods(p.subject),
    }
    if p.ingress:
        spec["ingress"] = _cnp_rules(p.ingress, "from")
    if p.egress:
        spec["egress"] = _cnp_rules(p.egress, "to")
    return {
        "apiVersion": cnp_parse.API_VERSIONS[0],
        "kind": cnp_parse.KIND,
        "metadata": _meta(p.name, "", (), p.uid),
        "spec": spec,
    }


def dump(obj: ko.KubeObject) -> dict[str, Any]:
    """``obj`` as an API object that :func:`romana.core.kubernetes.objects.parse` reads back
    to ``obj``."""
    if isinstance(obj, ko.Namespace):
        return namespace(obj)
    if isinstance(obj, ko.Node):
        return node(obj)
    if isinstance(obj, ko.Pod):
        return pod(obj)
    if isinstance(obj, ko.Service):
        return service.dump(obj)
    if isinstance(obj, cnp.ClusterNetworkPolicy):
        return cluster_network_policy(obj)
    return network_policy(obj)
