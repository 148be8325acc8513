"""Acceptance: an agent that dies or stops takes no workload connectivity with it.

A probe loop runs TCP connects between established endpoints every 50 ms while the agent of
one side is SIGKILLed and started again; the longest run of failed probes must stay under a
second. SIGTERM must stop the agent with exit 0 and leave routes, veths and firewall as they
were.
"""

from __future__ import annotations

import signal
import time

import pytest
from probes import ProbeLoop

from romana.lab import Cluster, Endpoint

pytestmark = pytest.mark.root

MAX_OUTAGE = 1.0


def same_tenant_pairs(agents: Cluster, host_index: int) -> list[tuple[Endpoint, Endpoint]]:
    """Pairs across hosts that default isolation allows (same tenant and segment)."""
    host = agents.hosts[host_index].name

    def peers(e: Endpoint) -> bool:
        return (e.tenant, e.segment) == ("t1", "default")

    local = next(e for e in agents.endpoints if e.host.name == host and peers(e))
    remote = [e for e in agents.endpoints if e.host.name != host and peers(e)]
    return [(local, remote[0]), (remote[-1], local)]


def test_sigkill_then_restart_keeps_connectivity_and_rebuilds_state(agents: Cluster) -> None:
    h1 = agents.hosts[0]
    agent = agents.agent(h1)
    before = agent.state()
    with ProbeLoop(agents, same_tenant_pairs(agents, 0)) as loop:
        time.sleep(0.3)
        assert agent.signal(signal.SIGKILL) == -signal.SIGKILL
        time.sleep(1.5)  # the agent is gone; the dataplane it built carries on
        agent.start()
        time.sleep(0.5)
    assert loop.probes > 20
    assert loop.longest <= MAX_OUTAGE, f"outage of {loop.longest:.2f} s: {loop.failures}"
    after = agent.state()
    assert after["endpoints"] == before["endpoints"]
    assert after["last_reconcile"]["ok"], after
    mine = [e for e in agents.endpoints if e.host.name == h1.name]
    for ep in mine:
        checked = agent.api.get_endpoint(ep.container_id, "eth0")
        assert checked["problems"] == [], checked
        assert checked["addresses"][0]["address"] == f"{ep.address}/32"
    # Isolation still holds after the restart, both ways.
    stranger = next(e for e in agents.endpoints if e.tenant != mine[0].tenant)
    assert not agents.lab.tcp_probe(stranger.workload, mine[0].address, mine[0].port, timeout=0.5)


def test_sigterm_stops_with_exit_0_and_leaves_the_dataplane_in_place(
    agents: Cluster,
) -> None:
    h2 = agents.hosts[1]
    agent = agents.agent(h2)

    def dataplane() -> tuple[str, str, str]:
        routes = agents.lab.run(h2, ["ip", "route", "show", "proto", "82"]).stdout
        links = agents.lab.run(h2, ["ip", "-o", "link", "show", "type", "veth"]).stdout
        if agents.firewall == "nftables":
            rules = agents.lab.run(h2, ["nft", "list", "table", "inet", "romana"]).stdout
        else:
            rules = agents.lab.run(h2, ["iptables-save", "-t", "filter"]).stdout
            rules = "\n".join(r for r in rules.splitlines() if not r.startswith("#"))
        return routes, "\n".join(sorted(line.split()[1] for line in links.splitlines())), rules

    held = dataplane()
    try:
        with ProbeLoop(agents, same_tenant_pairs(agents, 1)) as loop:
            assert agent.stop() == 0
            time.sleep(1.0)
        assert loop.longest == 0.0, loop.failures
        process = agents.agent(h2).process
        assert process is None or process.poll() == 0
        assert dataplane() == held
        assert "the dataplane stays in place" in agent.log_tail()
    finally:
        agent.start()
