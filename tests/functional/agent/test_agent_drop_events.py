"""Acceptance: a dropped packet is reported by the agent of the host that dropped it.

On both firewall backends, with real TCP probes between the endpoints of the shared
cluster (see conftest): a probe dropped by tenant isolation, one dropped by segment
isolation and one dropped by a policy's deny rule each appear in the agent's
``GET /v1/drops`` within one second of being sent, naming the default or the policy and
rule that dropped it, and the agent's ``romana_agent_dropped_packets_total`` for that
reason grows; an allowed probe never appears.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from probes import CONVERGE, converge, deny_own_segment_port, pick, tcp, within

from romana.lab import Cluster, Endpoint
from romana.lab.agents import Agent

pytestmark = pytest.mark.root

REPORTED = 1.0  # seconds from sending a denied probe to its event at the agent
POLICY = "drop-events-deny"


def events(agent: Agent, after: int, wait: float) -> list[dict[str, Any]]:
    status, body = agent.raw("GET", f"/v1/drops?after={after}&wait={wait}")
    assert status == 200, body
    return list(body["events"])


def last_seq(agent: Agent) -> int:
    return max((e["seq"] for e in events(agent, 0, 0)), default=0)


def dropped(agent: Agent, label: str) -> float:
    """The agent's count of packets dropped for the reason whose labels include ``label``."""
    total = 0.0
    for line in agent.metrics().splitlines():
        if line.startswith("romana_agent_dropped_packets_total{") and label in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def probe_reported(
    agents: Cluster, src: Endpoint, dst: Endpoint, label: str
) -> tuple[dict[str, Any], float]:
    """Send a probe that must be denied; its event at the destination's agent and the
    seconds from sending it to the agent's receiving it. Checks the counter grew."""
    agent = agents.agent(dst.host)
    after = last_seq(agent)
    before = dropped(agent, label)
    sent = time.time()
    assert not tcp(agents, src, dst), f"{src.name} reached {dst.name}"
    deadline = time.monotonic() + 2 * REPORTED
    found: list[dict[str, Any]] = []
    while not found and time.monotonic() < deadline:
        found = [
            e
            for e in events(agent, after, 0.5)
            if (e["src"], e["dst"], e.get("dport")) == (src.address, dst.address, dst.port)
        ]
        after = max([after, *(e["seq"] for e in found)])
    assert found, f"no drop event for {src.name} → {dst.name}\n{agents.log_tails()}"
    event = found[0]
    assert event["proto"] == "tcp"
    assert event["dst_owner"]["tenant"] == dst.tenant
    assert event["src_owner"]["tenant"] == src.tenant
    grew = time.monotonic() + 3.0
    while dropped(agent, label) <= before and time.monotonic() < grew:
        time.sleep(0.2)
    assert dropped(agent, label) > before, (
        f"romana_agent_dropped_packets_total{{{label}}}\n{agents.log_tails()}"
    )
    return event, float(event["time"]) - sent


def test_a_probe_denied_by_tenant_isolation_is_reported(agents: Cluster) -> None:
    src, dst = pick(agents, 0, "t2", "default"), pick(agents, 1, "t1", "default")
    label = 'reason="isolation: other tenants"'
    event, took = probe_reported(agents, src, dst, label)
    assert event["reason"]["default"] == "isolation: other tenants"
    assert took <= REPORTED


def test_a_probe_denied_by_segment_isolation_is_reported(agents: Cluster) -> None:
    src, dst = pick(agents, 0, "t1", "default"), pick(agents, 2, "t1", "blue")
    event, took = probe_reported(agents, src, dst, 'reason="isolation: other segments"')
    assert event["reason"]["default"] == "isolation: other segments"
    assert event["dst_owner"]["segment"] == "blue"
    assert took <= REPORTED


def test_a_probe_denied_by_a_policy_names_the_policy_and_rule(agents: Cluster) -> None:
    src, dst = pick(agents, 0, "t1", "default"), pick(agents, 1, "t1", "default")
    assert tcp(agents, src, dst), "own tenant and segment is open by default"
    agents.api.add_policies(deny_own_segment_port(POLICY, "t1", dst.port))
    try:
        took = converge(agents, [(src, dst)], False, CONVERGE)
        assert within(took, CONVERGE), f"closed after {took} s\n{agents.log_tails()}"
        label = f'policy="t1/{POLICY}",reason="policy",rule="ingress[0].peers[0].rules[0]"'
        event, took_s = probe_reported(agents, src, dst, label)
        assert event["reason"]["policy"] == f"t1/{POLICY}"
        assert event["reason"]["rule"] == "ingress[0].peers[0].rules[0]"
        assert took_s <= REPORTED
    finally:
        agents.api.remove_policy(POLICY)
    took = converge(agents, [(src, dst)], True, CONVERGE)
    assert within(took, CONVERGE), f"reopened after {took} s\n{agents.log_tails()}"


def test_an_allowed_probe_is_never_reported(agents: Cluster) -> None:
    src, dst = pick(agents, 0, "t2", "blue"), pick(agents, 1, "t2", "blue")
    involved = [agents.agent(src.host), agents.agent(dst.host)]
    after = [last_seq(agent) for agent in involved]
    for _ in range(3):
        assert tcp(agents, src, dst)
    time.sleep(REPORTED)
    for agent, seq in zip(involved, after, strict=True):
        mentioned = [
            e for e in events(agent, seq, 0) if {e["src"], e["dst"]} == {src.address, dst.address}
        ]
        assert not mentioned, mentioned
