"""The NetworkPolicy tier judged from the objects: a :data:`NetworkPolicyJudge`.

:func:`judge` answers, for one side of a :class:`Flow`, what ``networking.k8s.io/v1``
NetworkPolicies say, with the semantics :mod:`romana.core.kubernetes.networkpolicy` documents and
:mod:`romana.core.kubernetes.translation` compiles:

* a pod is selected in a direction by the policies of its namespace whose ``podSelector``
  matches it and whose types include that direction; none selecting it: no answer (None),
  so ClusterNetworkPolicy evaluation goes on to the Baseline tier;
* selected, the flow is allowed when any rule of any selecting policy matches: any of its
  peers (none: every peer) and any of its ports (none: every port);
* a selector peer matches pods only (not host-network pods): ``namespaceSelector`` missing
  means the policy's own namespace, ``podSelector`` missing every pod of the selected
  namespaces; an ``ipBlock`` peer matches the peer's address inside ``cidr`` and outside
  every ``except``;
* a port matches the flow's protocol and its port, range (``endPort``) or name; a name
  resolves on the destination pod's container ports, as for ClusterNetworkPolicy.

It is the reference the ClusterNetworkPolicy scenario tests judge by, and what an offline
explain can use; romanad's own answer comes from the compiled rules.
"""

from __future__ import annotations

from collections.abc import Iterable

from romana.core.kubernetes import networkpolicy
from romana.core.kubernetes import objects as ko
from romana.core.kubernetes.cnp.evaluate import NetworkPolicyAnswer, NetworkPolicyJudge
from romana.core.kubernetes.cnp.flow import Endpoint, Flow
from romana.core.kubernetes.cnp.model import Direction


def _peer_matches(peer: networkpolicy.Peer, namespace: str, endpoint: Endpoint) -> bool:
    if peer.ip_block is not None:
        address = endpoint.address
        block = peer.ip_block
        return (
            address is not None
            and address.version == block.cidr.version
            and address in block.cidr
            and not any(address in e for e in block.excepts)
        )
    if not endpoint.is_pod:
        return False
    if peer.namespace_selector is None:
        in_namespaces = endpoint.namespace == namespace
    else:
        in_namespaces = peer.namespace_selector.matches(dict(endpoint.namespace_labels))
    pods = peer.pod_selector
    return in_namespaces and (pods is None or pods.matches(dict(endpoint.pod_labels)))


def _port_matches(port: networkpolicy.Port, flow: Flow) -> bool:
    if port.protocol != flow.protocol:
        return False
    if port.port is None:
        return True
    if flow.port is None:
        return False
    if isinstance(port.port, str):
        destination = flow.destination
        return destination.is_pod and ko.NamedPort(port.port, flow.port, flow.protocol) in (
            destination.ports
        )
    if port.end_port is None:
        return port.port == flow.port
    return port.port <= flow.port <= port.end_port


def _rule_allows(
    rule: networkpolicy.Rule, namespace: str, flow: Flow, direction: Direction
) -> bool:
    peer = flow.peer(direction)
    if rule.peers and not any(_peer_matches(p, namespace, peer) for p in rule.peers):
        return False
    return not rule.ports or any(_port_matches(p, flow) for p in rule.ports)


def judge(policies: Iterable[networkpolicy.NetworkPolicy]) -> NetworkPolicyJudge:
    """The NetworkPolicy answer for one side of a flow, from ``policies``."""
    held = tuple(sorted(policies, key=lambda p: p.key))

    def answer(flow: Flow, direction: Direction) -> NetworkPolicyAnswer | None:
        own = flow.own(direction)
        if not own.is_pod:
            return None
        ingress = direction is Direction.INGRESS
        selecting = [
            p
            for p in held
            if p.namespace == own.namespace
            and (p.isolates_ingress if ingress else p.isolates_egress)
            and p.pod_selector.matches(dict(own.pod_labels))
        ]
        if not selecting:
            return None
        keys = tuple(p.key for p in selecting)
        for policy in selecting:
            for index, rule in enumerate(policy.ingress if ingress else policy.egress):
                if _rule_allows(rule, policy.namespace, flow, direction):
                    return NetworkPolicyAnswer(True, keys, (policy.key, index))
        return NetworkPolicyAnswer(False, keys)

    return answer


def no_network_policies(flow: Flow, direction: Direction) -> NetworkPolicyAnswer | None:
    """The judge of a cluster without NetworkPolicies: it never answers."""
    return None
