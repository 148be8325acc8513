"""A connection as ClusterNetworkPolicy sees it, and what each part of a policy matches.

A :class:`Flow` goes from a source :class:`Endpoint` to a destination one, with a protocol
and (TCP, UDP, SCTP) a destination port. An endpoint is a pod (its namespace's labels, its
own labels, its named container ports), a node's address (the node's labels), or an address
outside the cluster. Matching follows the API's documented semantics:

* a subject and ``namespaces``/``pods`` peers select pods only, never host-network pods
  ("host-networked pods are not included");
* a ``networks`` peer matches any endpoint whose address lies in one of its CIDRs, a pod's
  included ("cluster-internal traffic will be checked against the rule as well");
* a ``nodes`` peer matches an endpoint that is a selected node's address — a node itself at
  any of its InternalIP and ExternalIP addresses, or a host-network pod on it, which has the
  node's address;
* a rule's ``protocols`` match when any entry does; none given match everything, ICMP too. A
  ``destinationNamedPort`` resolves on the destination pod: it matches when that pod has a
  container port of the name with the flow's protocol and port. A destination that is not a
  pod has no named ports, so it never matches one.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from romana.core import addressing
from romana.core.kubernetes import objects as ko
from romana.core.kubernetes.cnp.model import ClusterNetworkPolicy, Direction, Peer, PortMatch, Rule

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One end of a flow. ``namespace`` is set for pods only; ``node_labels`` (None: not a
    node's address) for a node and for a host-network pod on a known node."""

    name: str
    address: addressing.IPAddress | None = None
    namespace: str = ""
    namespace_labels: Labels = ()
    pod_labels: Labels = ()
    ports: tuple[ko.NamedPort, ...] = ()
    host_network: bool = False
    node_labels: Labels | None = None

    @property
    def is_pod(self) -> bool:
        """A pod that subjects and pod peers can select (not host-network)."""
        return bool(self.namespace) and not self.host_network

    @classmethod
    def of_pod(
        cls,
        pod: ko.Pod,
        namespace: ko.Namespace,
        node: ko.Node | None = None,
        address: addressing.IPAddress | None = None,
    ) -> Endpoint:
        """``pod`` at ``address`` (default: its first address); ``node`` is the node it runs
        on, which only a host-network pod takes its identity from."""
        if pod.namespace != namespace.name:
            raise ValueError(f"pod {pod.key} is not in namespace {namespace.name}")
        on_node = node.labels if pod.host_network and node is not None else None
        return cls(
            name=pod.key,
            address=address if address is not None else (pod.ips[0] if pod.ips else None),
            namespace=pod.namespace,
            namespace_labels=namespace.labels,
            pod_labels=pod.labels,
            ports=pod.ports,
            host_network=pod.host_network,
            node_labels=on_node,
        )

    @classmethod
    def of_node(cls, node: ko.Node, address: addressing.IPAddress | None = None) -> Endpoint:
        """``node`` at ``address``: any of its addresses (``node.ips``), which a ``nodes``
        peer selecting it matches alike (default: its InternalIP, else ExternalIP, when
        valid)."""
        if address is None and node.ip:
            try:
                address = ipaddress.ip_address(node.ip)
            except ValueError:
                address = None
        return cls(name=f"node/{node.name}", address=address, node_labels=node.labels)

    @classmethod
    def outside(cls, address: addressing.IPAddress) -> Endpoint:
        return cls(name=str(address), address=address)


@dataclass(frozen=True, slots=True)
class Flow:
    source: Endpoint
    destination: Endpoint
    protocol: str
    """``TCP``, ``UDP``, ``SCTP`` as the API spells them, or another IP protocol (``ICMP``)
    that only rules without ``protocols`` match."""
    port: int | None = None

    def own(self, direction: Direction) -> Endpoint:
        """The side a policy of ``direction`` protects: the source sends (egress), the
        destination receives (ingress)."""
        return self.source if direction is Direction.EGRESS else self.destination

    def peer(self, direction: Direction) -> Endpoint:
        return self.destination if direction is Direction.EGRESS else self.source


def selects(policy: ClusterNetworkPolicy, endpoint: Endpoint) -> bool:
    """Whether ``endpoint`` is among the policy's subject pods."""
    return endpoint.is_pod and policy.subject.selects(
        dict(endpoint.namespace_labels), dict(endpoint.pod_labels)
    )


def peer_matches(peer: Peer, endpoint: Endpoint) -> bool:
    if peer.pods is not None:
        return endpoint.is_pod and peer.pods.selects(
            dict(endpoint.namespace_labels), dict(endpoint.pod_labels)
        )
    if peer.nodes is not None:
        return endpoint.node_labels is not None and peer.nodes.matches(dict(endpoint.node_labels))
    address = endpoint.address
    return address is not None and any(
        address.version == net.version and address in net for net in peer.networks
    )


def port_matches(match: PortMatch, flow: Flow) -> bool:
    if flow.port is None:
        return False
    if match.name:
        destination = flow.destination
        return destination.is_pod and any(
            p.name == match.name and p.protocol == flow.protocol and p.port == flow.port
            for p in destination.ports
        )
    return match.protocol == flow.protocol and match.start <= flow.port <= match.end


def rule_matches(rule: Rule, flow: Flow, direction: Direction) -> bool:
    """Whether ``rule`` (of a policy selecting ``flow.own(direction)``) matches ``flow``."""
    peer = flow.peer(direction)
    if not any(peer_matches(p, peer) for p in rule.peers):
        return False
    return not rule.ports or any(port_matches(m, flow) for m in rule.ports)
