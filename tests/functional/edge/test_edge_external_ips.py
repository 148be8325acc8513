"""External IPs: configured on the endpoint's own interface, reached from outside without NAT.

Real agents, romanad, kernels and packets (the shared edge cluster of this directory). An
external IP assigned through romanad appears on the endpoint's interface next to its romana
address; the host holding the endpoint answers for it on the underlay (a proxy neighbour
entry), so the outside router, which routes the pool on-link, reaches it directly: the
workload sees the client's real address and answers from its external one. The other host
routes it to the holder (the route plan's host route), and isolation still applies: an
external IP is judged as its endpoint's romana address.
"""

from __future__ import annotations

import subprocess

import pytest

from romana.client import reach as live
from romana.core.policy import reach
from romana.lab import Endpoint
from support.edge import POOL, Edge
from support.wait import eventually

pytestmark = pytest.mark.root

SETTLE = 5.0


def _inside(edge: Edge, ep: Endpoint) -> str:
    argv = ["ip", "-n", ep.workload.ns, "addr", "show", "dev", "eth0"]
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=10).stdout


def _endpoint(edge: Edge, host: int, name: str, tenant: str) -> Endpoint:
    made = edge.cluster
    return made.add_endpoint(made.hosts[host], name, tenant, "default")


def _remove(edge: Edge, ep: Endpoint) -> None:
    edge.cluster.endpoints.remove(ep)
    edge.cluster.agent(ep.host).api.delete_endpoint(ep.container_id, "eth0")


def test_the_outside_reaches_an_external_ip_directly_and_the_endpoint_answers_from_it(
    edge: Edge,
) -> None:
    made, out = edge.cluster, edge.outside
    lab = made.lab
    ep = _endpoint(edge, 0, "ext1", "web")
    mate = _endpoint(edge, 1, "ext1-mate", "web")
    key = f"{ep.container_id}:eth0"
    try:
        ip4 = made.api.assign_external_ip(POOL, key)["address"]
        ip6 = made.api.assign_external_ip(POOL, key, "2001:db8:200::10")["address"]
        assert eventually(lambda: ip4 in _inside(edge, ep) and ip6 in _inside(edge, ep), SETTLE)
        server = lab.listen(ep.workload)
        for address, client in ((ip4, out.client_ip), (ip6, out.client_ip6)):
            assert eventually(
                lambda: lab.tcp_probe(out.client, address, server.port, timeout=0.5),  # noqa: B023
                SETTLE,
            ), f"outside → {address}\n{made.log_tails()}"
            # No NAT on the way in: the workload sees the client itself.
            assert server.peers[-1] == str(client)
        # Its own outbound traffic to the outside leaves with its external addresses.
        sink = lab.listen(out.client)
        for dst, source in ((out.client_ip, ip4), (out.client_ip6, ip6)):
            assert lab.tcp_probe(ep.workload, dst, sink.port), f"{ep.name} → {dst}"
            assert sink.peers[-1] == source
        answer = reach.explain(made.call(live.model), key, str(out.client_ip), "tcp/80")
        assert f"egress NAT: leaves as its external address {ip4}" in answer.notes
        # Another host routes the external address to the holder (the route plan).
        assert eventually(
            lambda: lab.tcp_probe(mate.workload, ip4, server.port, timeout=0.5), SETTLE
        )
        assert lab.tcp_probe(mate.workload, ip6, server.port)
        # Unassigned: gone from the interface, and the outside no longer reaches it.
        made.api.unassign_external_ip(ip4)
        assert eventually(lambda: ip4 not in _inside(edge, ep), SETTLE)
        assert not lab.tcp_probe(out.client, ip4, server.port, timeout=0.5)
        assert lab.tcp_probe(out.client, ip6, server.port)
    finally:
        _remove(edge, ep)
        _remove(edge, mate)
    # Deleting the endpoint released its allocation, and its external IPs with it.
    assert eventually(lambda: not made.api.list_external_ips(key=key), SETTLE)


def test_an_external_ip_is_judged_as_its_endpoints_romana_address(edge: Edge) -> None:
    made, out = edge.cluster, edge.outside
    lab = made.lab
    vault = _endpoint(edge, 0, "vault1", "vault")
    peer = _endpoint(edge, 1, "vault1-peer", "vault")
    stranger = _endpoint(edge, 1, "vault1-web", "web")
    try:
        ip4 = made.api.assign_external_ip(POOL, f"{vault.container_id}:eth0")["address"]
        assert eventually(lambda: ip4 in _inside(edge, vault), SETTLE)
        # Its own tenant and segment reach it at its external address too...
        assert eventually(
            lambda: lab.tcp_probe(peer.workload, ip4, vault.port, timeout=0.5), SETTLE
        ), made.log_tails()
        # ...while another tenant and the outside are refused, as at its romana address.
        assert not lab.tcp_probe(stranger.workload, ip4, vault.port, timeout=0.5)
        assert not lab.tcp_probe(stranger.workload, vault.address, vault.port, timeout=0.5)
        assert not lab.tcp_probe(out.client, ip4, vault.port, timeout=0.5)
    finally:
        for ep in (vault, peer, stranger):
            _remove(edge, ep)
