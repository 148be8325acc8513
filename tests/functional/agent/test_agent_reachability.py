"""Acceptance: agents on three simulated hosts give the reachability Romana promises.

Every test runs once per firewall backend (nftables, iptables) against the module's
cluster (see conftest). Probes are real: TCP connects to listeners inside the workload
namespaces and ICMP echo from ``ping``, between every pair of endpoints.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable

from agentlab import AgentCluster, Endpoint

PROBE_TIMEOUT = 0.5
CONVERGE = 1.0  # a policy change must be enforced within this many seconds


def tcp(agents: AgentCluster, src: Endpoint, dst: Endpoint, timeout: float = PROBE_TIMEOUT) -> bool:
    return agents.lab.tcp_probe(src.workload, dst.address, dst.port, timeout=timeout)


def icmp(agents: AgentCluster, src: Endpoint, dst: Endpoint) -> bool:
    return agents.lab.ping(src.workload, dst.address, deadline=1)


def matrix(
    agents: AgentCluster, probe: Callable[[AgentCluster, Endpoint, Endpoint], bool]
) -> dict[tuple[str, str], bool]:
    pairs = [(s, d) for s in agents.endpoints for d in agents.endpoints if s is not d]
    with concurrent.futures.ThreadPoolExecutor(48) as pool:
        results = pool.map(lambda p: probe(agents, *p), pairs)
        return {(s.address, d.address): ok for (s, d), ok in zip(pairs, results, strict=True)}


def expected_isolation(agents: AgentCluster) -> dict[tuple[str, str], bool]:
    return {
        (s.address, d.address): s.tenant == d.tenant
        for s in agents.endpoints
        for d in agents.endpoints
        if s is not d
    }


def pick(agents: AgentCluster, host: int, tenant: str, segment: str) -> Endpoint:
    name = agents.hosts[host].name
    return next(
        e
        for e in agents.endpoints
        if e.host.name == name and e.tenant == tenant and e.segment == segment
    )


def group(agents: AgentCluster, tenant: str, segment: str) -> list[Endpoint]:
    return [e for e in agents.endpoints if e.tenant == tenant and e.segment == segment]


def converge(
    agents: AgentCluster, pairs: list[tuple[Endpoint, Endpoint]], allowed: bool, limit: float
) -> dict[str, float | None]:
    """Per pair, the seconds until TCP first gave ``allowed`` (when that probe started).

    Pairs are probed in parallel, so each destination host is timed on its own; a pair that
    has not converged ``limit + 2`` seconds after the start is reported as None.
    """
    started = time.monotonic()

    def one(pair: tuple[Endpoint, Endpoint]) -> float | None:
        while time.monotonic() - started < limit + 2.0:
            at = time.monotonic()
            if tcp(agents, *pair, timeout=0.2) == allowed:
                return at - started
        return None

    with concurrent.futures.ThreadPoolExecutor(len(pairs)) as pool:
        took = list(pool.map(one, pairs))
    return {
        f"{s.name}@{s.host.name}→{d.name}@{d.host.name}": t
        for (s, d), t in zip(pairs, took, strict=True)
    }


def within(took: dict[str, float | None], limit: float) -> bool:
    return all(t is not None and t <= limit for t in took.values())


def test_reachability_matrix_is_tenant_isolation(agents: AgentCluster) -> None:
    want = expected_isolation(agents)
    assert len(want) == 12 * 11
    got_tcp = matrix(agents, tcp)
    wrong = sorted(k for k in want if got_tcp[k] != want[k])
    assert not wrong, f"TCP differs from tenant isolation for {wrong}\n{agents.log_tails()}"
    got_icmp = matrix(agents, icmp)
    wrong = sorted(k for k in want if got_icmp[k] != want[k])
    assert not wrong, f"ICMP differs from tenant isolation for {wrong}"


def test_policy_opening_a_port_across_tenants_is_enforced_within_a_second(
    agents: AgentCluster,
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


def test_deny_policy_closing_a_port_inside_a_tenant_is_enforced_within_a_second(
    agents: AgentCluster,
) -> None:
    blue = group(agents, "t1", "blue")
    client = pick(agents, 1, "t1", "default")
    server = pick(agents, 2, "t1", "blue")
    pairs = [(client, b) for b in blue]
    assert tcp(agents, client, server)
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
