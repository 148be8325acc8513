"""Egress NAT: endpoints reach the outside masqueraded to their host's address, per network.

Real agents, romanad, kernels and packets (the shared edge cluster of this directory). The
outside router has no route to the romana networks, so without NAT an endpoint's packets
arrive with their romana source and no answer can come back: what the client's listener
saw is the whole evidence. The default is on; ``off`` leaves the source alone; a no-NAT
CIDR is reached unmodified while the network's other destinations stay masqueraded.
"""

from __future__ import annotations

import pytest

from romana.client import reach as live
from romana.core.policy import reach
from romana.lab import Endpoint
from romana.lab.listener import Listener
from support.edge import Edge
from support.wait import eventually

pytestmark = pytest.mark.root

SETTLE = 5.0


def _seen(edge: Edge, ep: Endpoint, sink: Listener, dst: object, source: str) -> bool:
    """A UDP datagram from ``ep`` to ``dst`` reaches the client's ``sink`` from ``source``."""
    before = len(sink.peers)
    edge.cluster.lab.udp_probe(ep.workload, dst, sink.port, timeout=0.3)
    return len(sink.peers) > before and sink.peers[-1] == source


def _nat_note(edge: Edge, ep: Endpoint, dst: object) -> str:
    """What ``romana explain`` says egress NAT does to ``ep``'s traffic to ``dst``."""
    model = edge.cluster.call(live.model)
    answer = reach.explain(model, f"{ep.container_id}:eth0", str(dst), "udp/53")
    return next(n for n in answer.notes if n.startswith("egress NAT"))


def test_endpoints_leave_masqueraded_unless_the_network_says_otherwise(edge: Edge) -> None:
    made, out = edge.cluster, edge.outside
    host = made.hosts[1]
    ep = made.add_endpoint(host, "nat1", "web", "default")
    romana = edge.addresses(ep)
    sink = made.lab.listen(out.client, "udp")
    try:
        # The default: masqueraded to the host's underlay address, both families, with
        # answers coming back (conntrack undoes the rewrite).
        assert made.lab.udp_probe(ep.workload, out.client_ip, sink.port)
        assert sink.peers[-1] == str(host.underlay_ip)
        assert made.lab.udp_probe(ep.workload, out.client_ip6, sink.port)
        assert sink.peers[-1] == str(host.underlay_ip6)
        assert "masqueraded to the host's address (network pods)" in _nat_note(
            edge, ep, out.client_ip
        )
        # Off for pods (IPv4): the packet leaves with its romana source; pods6 unchanged.
        made.api.set_egress_nat("pods", "off")
        assert eventually(lambda: _seen(edge, ep, sink, out.client_ip, romana[4]), SETTLE)
        assert _seen(edge, ep, sink, out.client_ip6, str(host.underlay_ip6))
        assert "egress NAT of network pods is off" in _nat_note(edge, ep, out.client_ip)
        # On, with the client's range as a no-NAT CIDR of pods6: only that one is exempt.
        made.api.set_egress_nat("pods", "on")
        made.api.set_egress_nat("pods6", "on", no_nat=["2001:db8:100::/64"])
        assert eventually(lambda: _seen(edge, ep, sink, out.client_ip6, romana[6]), SETTLE)
        assert _seen(edge, ep, sink, out.client_ip, str(host.underlay_ip))
        # Per tenant: only the listed tenants are masqueraded.
        made.api.set_egress_nat("pods", "tenants", tenants=["vault"])
        assert eventually(lambda: _seen(edge, ep, sink, out.client_ip, romana[4]), SETTLE)
        made.api.set_egress_nat("pods", "tenants", tenants=["web"])
        assert eventually(
            lambda: _seen(edge, ep, sink, out.client_ip, str(host.underlay_ip)), SETTLE
        )
    finally:
        made.api.set_egress_nat("pods", "on")
        made.api.set_egress_nat("pods6", "on")
        made.endpoints.remove(ep)
        made.agent(host).api.delete_endpoint(ep.container_id, "eth0")


def test_traffic_inside_the_cluster_is_never_rewritten(edge: Edge) -> None:
    made = edge.cluster
    a = made.add_endpoint(made.hosts[0], "nat-a", "web", "default")
    b = made.add_endpoint(made.hosts[1], "nat-b", "web", "default")
    server = made.lab.listen(b.workload)
    try:
        assert eventually(lambda: made.lab.tcp_probe(a.workload, b.address, server.port), SETTLE)
        assert server.peers[-1] == a.address
        six = edge.addresses(b)[6]
        assert made.lab.tcp_probe(a.workload, six, server.port)
        assert server.peers[-1] == edge.addresses(a)[6]
    finally:
        for ep in (a, b):
            made.endpoints.remove(ep)
            made.agent(ep.host).api.delete_endpoint(ep.container_id, "eth0")
