"""A miniature of the upstream ClusterNetworkPolicy conformance cluster, and builders.

The namespaces, pods and nodes of kubernetes-sigs/network-policy-api's conformance suite
(``conformance/base/manifests.yaml``) in small: the four houses as namespaces (labelled
``house: <name>`` and, as the API server does, ``kubernetes.io/metadata.name``), two pods
in most of them with named container ports, ``hermione-granger-0`` and
``cedric-diggory-0`` without any, a host-network pod ``centaur-1`` on ``node-a``, and an
address outside the cluster (:data:`OUTSIDE`). Builders write policies in the API's own
document shape and parse them, so every scenario also goes through the parser; :func:`run`
judges a flow with the tier evaluator and :func:`netpol.judge`.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from romana.core.kubernetes import networkpolicy as kube_np
from romana.core.kubernetes import objects as ko
from romana.core.kubernetes.cnp import evaluate, netpol, parse
from romana.core.kubernetes.cnp.evaluate import Decision, Verdict
from romana.core.kubernetes.cnp.flow import Endpoint, Flow
from romana.core.kubernetes.cnp.model import ClusterNetworkPolicy

HOUSES = ("gryffindor", "slytherin", "hufflepuff", "ravenclaw", "forbidden-forrest")
NAMESPACES = {h: ko.admitted(ko.Namespace(h, (("house", h),))) for h in HOUSES}
PORTS = (
    ko.NamedPort("web", 80),
    ko.NamedPort("alt-web", 8080),
    ko.NamedPort("dns", 53, "UDP"),
    ko.NamedPort("signal", 9003, "SCTP"),
)
NODES = {
    "node-a": ko.Node("node-a", "192.0.2.10", (("role", "worker"),)),
    "node-b": ko.Node("node-b", "192.0.2.11", (("role", "control-plane"),)),
}


def _pod(key: str, ip: str, app: str, ports: tuple[ko.NamedPort, ...] = PORTS) -> ko.Pod:
    namespace, name = key.split("/")
    address = ipaddress.ip_address(ip)
    return ko.Pod(namespace, name, (("app", app),), "node-a", (address,), ports)


PODS = {
    p.key: p
    for p in (
        _pod("gryffindor/harry-potter-0", "10.1.0.10", "harry"),
        _pod("gryffindor/harry-potter-1", "10.1.0.11", "harry"),
        _pod("gryffindor/hermione-granger-0", "10.1.0.12", "hermione", ()),
        _pod("slytherin/draco-malfoy-0", "10.2.0.10", "draco"),
        _pod("slytherin/draco-malfoy-1", "10.2.0.11", "draco"),
        _pod("hufflepuff/cedric-diggory-0", "10.3.0.10", "cedric", ()),
        _pod("hufflepuff/cedric-diggory-1", "10.3.0.11", "cedric"),
        _pod("ravenclaw/luna-lovegood-0", "10.4.0.10", "luna"),
        ko.Pod(
            "forbidden-forrest",
            "centaur-1",
            (("app", "centaur"),),
            "node-a",
            (ipaddress.ip_address("192.0.2.10"),),
            host_network=True,
        ),
    )
}
HARRY, HARRY1, HERMIONE = (
    "gryffindor/harry-potter-0",
    "gryffindor/harry-potter-1",
    "gryffindor/hermione-granger-0",
)
DRACO, DRACO1 = "slytherin/draco-malfoy-0", "slytherin/draco-malfoy-1"
CEDRIC0, CEDRIC1 = "hufflepuff/cedric-diggory-0", "hufflepuff/cedric-diggory-1"
LUNA, CENTAUR = "ravenclaw/luna-lovegood-0", "forbidden-forrest/centaur-1"
OUTSIDE = "203.0.113.7"


def endpoint(name: str) -> Endpoint:
    if name in PODS:
        pod = PODS[name]
        return Endpoint.of_pod(pod, NAMESPACES[pod.namespace], NODES[pod.node])
    if name.startswith("node/"):
        return Endpoint.of_node(NODES[name.removeprefix("node/")])
    return Endpoint.outside(ipaddress.ip_address(name))


def house(name: str) -> dict[str, Any]:
    """A subject or peer: every pod of the house's namespace."""
    return {"namespaces": {"matchLabels": {"house": name}}}


def pods(app: str, namespace: str | None = None) -> dict[str, Any]:
    selection: dict[str, Any] = {"podSelector": {"matchLabels": {"app": app}}}
    if namespace is not None:
        selection["namespaceSelector"] = {"matchLabels": {"house": namespace}}
    return {"pods": selection}


def tcp(start: int, end: int | None = None) -> dict[str, Any]:
    port = {"number": start} if end is None else {"range": {"start": start, "end": end}}
    return {"tcp": {"destinationPort": port}}


def udp(number: int) -> dict[str, Any]:
    return {"udp": {"destinationPort": {"number": number}}}


def sctp(number: int) -> dict[str, Any]:
    return {"sctp": {"destinationPort": {"number": number}}}


def named(name: str) -> dict[str, Any]:
    return {"destinationNamedPort": name}


def rule(
    key: str,
    action: str,
    *peers: dict[str, Any],
    ports: tuple[dict[str, Any], ...] = (),
    name: str = "",
) -> dict[str, Any]:
    out: dict[str, Any] = {"action": action, key: list(peers)}
    if ports:
        out["protocols"] = list(ports)
    if name:
        out["name"] = name
    return out


def ingress(action: str, *peers: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return rule("from", action, *peers, **kw)


def egress(action: str, *peers: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return rule("to", action, *peers, **kw)


def cnp(
    name: str,
    *,
    tier: str = "Admin",
    priority: int = 10,
    subject: dict[str, Any] | None = None,
    ingress: list[dict[str, Any]] | None = None,
    egress: list[dict[str, Any]] | None = None,
) -> ClusterNetworkPolicy:
    spec: dict[str, Any] = {
        "tier": tier,
        "priority": priority,
        "subject": subject or house("gryffindor"),
    }
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    return parse.parse(
        {
            "apiVersion": "policy.networking.k8s.io/v1alpha2",
            "kind": "ClusterNetworkPolicy",
            "metadata": {"name": name},
            "spec": spec,
        }
    )


def networkpolicy(namespace: str, name: str, **spec: Any) -> kube_np.NetworkPolicy:
    spec.setdefault("podSelector", {})
    return kube_np.network_policy(
        {"metadata": {"name": name, "namespace": namespace}, "spec": spec}
    )


def run(
    src: str,
    dst: str,
    *policies: ClusterNetworkPolicy,
    netpols: tuple[kube_np.NetworkPolicy, ...] = (),
    proto: str = "TCP",
    port: int | None = 80,
) -> Verdict:
    admin, baseline = evaluate.by_tier(policies)
    flow = Flow(endpoint(src), endpoint(dst), proto, port)
    return evaluate.evaluate(admin, netpol.judge(netpols), baseline, flow)


def by(decision: Decision) -> tuple[object, ...]:
    """What decided, compactly: tier, policy, rule index, action — or the NetworkPolicy rule."""
    if decision.rule is not None:
        r = decision.rule
        return (decision.decider, r.policy, r.index, r.action)
    if decision.network_policy is not None:
        return (decision.decider, decision.network_policy.rule)
    return (decision.decider,)


# The policy of upstream base/admin_tier/standard-egress-tcp-rules.yaml ("egress-tcp"),
# rules in its order.
EGRESS_TCP: dict[str, Any] = dict(
    egress=[
        egress("Accept", house("ravenclaw"), name="allow-to-ravenclaw-everything"),
        egress("Deny", house("ravenclaw"), name="deny-to-ravenclaw-everything"),
        egress("Pass", house("ravenclaw"), name="pass-to-ravenclaw-everything"),
        egress("Deny", house("slytherin"), ports=(tcp(80),), name="deny-to-slytherin-at-port-80"),
        egress("Pass", house("slytherin"), ports=(tcp(80),), name="pass-to-slytherin-at-port-80"),
        egress(
            "Accept", house("hufflepuff"), ports=(tcp(8080),), name="allow-to-hufflepuff-at-8080"
        ),
        egress("Deny", house("hufflepuff"), name="deny-to-hufflepuff-everything-else"),
    ]
)
# Its ingress twin (base/admin_tier/standard-ingress-tcp-rules.yaml, "ingress-tcp").
INGRESS_TCP: dict[str, Any] = dict(
    ingress=[
        ingress("Accept", house("ravenclaw"), name="allow-from-ravenclaw-everything"),
        ingress("Deny", house("ravenclaw"), name="deny-from-ravenclaw-everything"),
        ingress("Pass", house("ravenclaw"), name="pass-from-ravenclaw-everything"),
        ingress("Deny", house("slytherin"), ports=(tcp(80),), name="deny-from-slytherin-at-80"),
        ingress("Pass", house("slytherin"), ports=(tcp(80),), name="pass-from-slytherin-at-80"),
        ingress("Accept", house("hufflepuff"), ports=(tcp(8080),), name="allow-from-huff-8080"),
        ingress("Deny", house("hufflepuff"), name="deny-from-hufflepuff-everything-else"),
    ]
)
