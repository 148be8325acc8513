"""Acceptance: what an operator deletes by hand comes back; what is not ours stays untouched.

The agents run a full reconcile every ``Agent.interval`` seconds; a repair must be seen
within a few intervals. Things that are not ours are added inside a host namespace, next to
ours, and must survive every reconcile unchanged.
"""

from __future__ import annotations

import pytest

from romana.core import hostplan
from romana.lab import Cluster, Host
from support.wait import eventually

pytestmark = pytest.mark.root


def sh(agents: Cluster, host: Host, *argv: str) -> str:
    return agents.lab.run(host, list(argv)).stdout


def test_route_endpoint_route_and_firewall_deleted_by_hand_are_restored(
    agents: Cluster,
) -> None:
    h1 = agents.hosts[0]
    agent = agents.agent(h1)
    within = agent.interval * 3 + 2
    ours = sh(agents, h1, "ip", "-4", "route", "show", "proto", "82")
    remote = next(line.split()[0] for line in ours.splitlines() if " via " in line)
    local = next(e for e in agents.endpoints if e.host.name == h1.name)
    veth = hostplan.host_ifname(f"{local.container_id}:eth0")
    other = next(
        e
        for e in agents.endpoints
        if e.host.name != h1.name and (e.tenant, e.segment) == (local.tenant, local.segment)
    )
    repairs_before = agent.metric("romana_agent_drift_repairs_total")

    sh(agents, h1, "ip", "route", "del", remote)
    sh(agents, h1, "ip", "route", "del", f"{local.address}/32", "dev", veth)
    if agents.firewall == "nftables":
        sh(agents, h1, "nft", "delete", "table", "inet", "romana")

        def firewall_back() -> bool:
            return "romana-ingress" in sh(agents, h1, "nft", "list", "ruleset")
    else:
        sh(agents, h1, "iptables", "-D", "FORWARD", "-j", "ROMANA-FORWARD")
        sh(agents, h1, "iptables", "-F", "ROMANA-INGRESS-ALLOW")

        def firewall_back() -> bool:
            saved = sh(agents, h1, "iptables-save", "-t", "filter")
            return "-A FORWARD -j ROMANA-FORWARD" in saved and "-A ROMANA-INGRESS-ALLOW" in saved

    assert eventually(lambda: remote in sh(agents, h1, "ip", "route", "show", remote), within)
    assert eventually(
        lambda: veth in sh(agents, h1, "ip", "route", "show", f"{local.address}/32"), within
    )
    assert eventually(firewall_back, within), agents.log_tails()
    assert agents.lab.tcp_probe(local.workload, other.address, other.port, timeout=2)
    stranger = next(e for e in agents.endpoints if e.tenant != local.tenant)
    assert not agents.lab.tcp_probe(stranger.workload, local.address, local.port, timeout=0.5)
    assert agent.metric("romana_agent_drift_repairs_total") >= repairs_before + 3


def test_routes_links_and_tables_that_are_not_ours_are_left_alone(agents: Cluster) -> None:
    h2 = agents.hosts[1]
    agent = agents.agent(h2)
    sh(agents, h2, "ip", "link", "add", "testbr0", "type", "bridge")
    sh(agents, h2, "ip", "addr", "add", "172.31.9.1/24", "dev", "testbr0")
    sh(agents, h2, "ip", "link", "set", "testbr0", "up")
    sh(agents, h2, "ip", "route", "add", "172.30.0.0/16", "via", "172.31.9.2")
    # A route into Romana's own network, but not tagged as ours: never replaced or removed.
    sh(agents, h2, "ip", "route", "add", "10.250.0.0/16", "via", "172.31.9.2")
    sh(agents, h2, "nft", "add", "table", "inet", "testtable")
    sh(agents, h2, "nft", "add", "chain", "inet", "testtable", "testchain")
    sh(agents, h2, "nft", "add", "rule", "inet", "testtable", "testchain", "counter", "accept")
    sh(agents, h2, "iptables", "-N", "TEST-CHAIN")
    sh(agents, h2, "iptables", "-A", "TEST-CHAIN", "-s", "198.51.100.0/24", "-j", "RETURN")
    reconciles = agent.metric("romana_agent_reconciles_total")
    try:
        assert eventually(
            lambda: agent.metric("romana_agent_reconciles_total") >= reconciles + 2,
            agent.interval * 3 + 2,
        )
        routes = sh(agents, h2, "ip", "route")
        assert "172.30.0.0/16 via 172.31.9.2 dev testbr0" in routes
        assert "10.250.0.0/16 via 172.31.9.2 dev testbr0" in routes
        assert "testbr0" in sh(agents, h2, "ip", "link", "show", "testbr0")
        assert "counter" in sh(agents, h2, "nft", "list", "table", "inet", "testtable")
        assert "198.51.100.0/24" in sh(agents, h2, "iptables", "-S", "TEST-CHAIN")
    finally:
        sh(agents, h2, "ip", "link", "del", "testbr0")
        sh(agents, h2, "nft", "delete", "table", "inet", "testtable")
        sh(agents, h2, "iptables", "-F", "TEST-CHAIN")
        sh(agents, h2, "iptables", "-X", "TEST-CHAIN")
