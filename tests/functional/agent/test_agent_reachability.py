"""Acceptance: agents on three simulated hosts give the reachability Romana promises.

With no policy, an endpoint reaches only endpoints of its own tenant and segment (the
default isolation of a ``romana``-mode tenant).

Every test runs once per firewall backend (nftables, iptables) against the module's
cluster (see conftest). Probes are real: TCP connects to listeners inside the workload
namespaces and ICMP echo from ``ping``, between every pair of endpoints.
"""

from __future__ import annotations

import pytest
from probes import (
    CONVERGE,
    converge,
    expected_isolation,
    group,
    icmp,
    matrix,
    pick,
    tcp,
    within,
)

from romana.lab import Cluster

pytestmark = pytest.mark.root


def test_reachability_matrix_is_tenant_and_segment_isolation(agents: Cluster) -> None:
    want = expected_isolation(agents)
    assert len(want) == 12 * 11
    got_tcp = matrix(agents, tcp)
    wrong = sorted(k for k in want if got_tcp[k] != want[k])
    assert not wrong, (
        f"TCP differs from tenant and segment isolation for {wrong}\n{agents.log_tails()}"
    )
    got_icmp = matrix(agents, icmp)
    wrong = sorted(k for k in want if got_icmp[k] != want[k])
    assert not wrong, f"ICMP differs from tenant and segment isolation for {wrong}"


def test_policy_opening_a_port_across_tenants_is_enforced_within_a_second(
    agents: Cluster,
) -> None:
    servers = group(agents, "t2", "default")
    client = pick(agents, 0, "t1", "default")
    far = pick(agents, 2, "t2", "default")  # h1 → h3: through rack 2's aggregate route
    assert not tcp(agents, client, far)
    policy = {
        "name": "open-t1-to-t2",
        "applied_to": [{"tenant": "t2", "segment": "default"}],
        "ingress": [
            {
                "peers": [{"tenant": "t1", "segment": "default"}],
                "rules": [{"protocol": "tcp", "ports": sorted({s.port for s in servers})}],
            }
        ],
    }
    pairs = [(client, server) for server in servers]  # one per enforcing host
    agents.api.add_policies(policy)
    took = converge(agents, pairs, True, CONVERGE)
    assert within(took, CONVERGE), f"opened after {took} s\n{agents.log_tails()}"
    for src in group(agents, "t1", "default"):
        for dst in servers:
            assert tcp(agents, src, dst), f"{src.name}@{src.host.name} → {dst.name}"
    for src in group(agents, "t1", "blue"):
        assert not tcp(agents, src, far), "the policy opened another segment too"
    assert not icmp(agents, client, far), "a TCP policy opened ICMP"
    assert not tcp(agents, far, client), "the policy opened the reverse direction"

    agents.api.remove_policy("open-t1-to-t2")
    took = converge(agents, pairs, False, CONVERGE)
    assert within(took, CONVERGE), f"closed after {took} s\n{agents.log_tails()}"
    assert matrix(agents, tcp) == expected_isolation(agents)


OPEN = {"mode": "romana", "segments": "open"}
ISOLATED = {"mode": "romana", "segments": "isolated"}


def test_deny_policy_closes_a_port_inside_a_tenant_with_open_segments(
    agents: Cluster,
) -> None:
    blue = group(agents, "t1", "blue")
    client = pick(agents, 1, "t1", "default")
    server = pick(agents, 2, "t1", "blue")
    pairs = [(client, b) for b in blue]
    assert not tcp(agents, client, server), "segments of a tenant are isolated by default"
    agents.api.set_isolation("t1", OPEN)
    try:
        took = converge(agents, pairs, True, CONVERGE)
        assert within(took, CONVERGE), f"segments opened after {took} s\n{agents.log_tails()}"
        assert not tcp(agents, pick(agents, 0, "t2", "default"), server), "t2 got in"
        policy = {
            "name": "close-t1-blue",
            "action": "deny",
            "applied_to": [{"tenant": "t1", "segment": "blue"}],
            "ingress": [
                {
                    "peers": [{"tenant": "t1", "segment": "default"}],
                    "rules": [{"protocol": "tcp", "ports": sorted({b.port for b in blue})}],
                }
            ],
        }
        agents.api.add_policies(policy)
        took = converge(agents, pairs, False, CONVERGE)
        assert within(took, CONVERGE), f"closed after {took} s\n{agents.log_tails()}"
        assert icmp(agents, client, server), "a TCP deny closed ICMP"
        assert tcp(agents, pick(agents, 0, "t1", "blue"), server), "blue → blue was closed too"

        agents.api.remove_policy("close-t1-blue")
        took = converge(agents, pairs, True, CONVERGE)
        assert within(took, CONVERGE), f"reopened after {took} s\n{agents.log_tails()}"
    finally:
        agents.api.set_isolation("t1", ISOLATED)
    took = converge(agents, pairs, False, CONVERGE)
    assert within(took, CONVERGE), f"segments closed after {took} s\n{agents.log_tails()}"
