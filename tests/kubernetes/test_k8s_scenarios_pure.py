"""Every NetworkPolicy scenario, judged by the one engine behind ``romana explain``.

Each phase of each fixture is made into the model romanad would hold
(:func:`explain.model`), whose hosts are compiled exactly as the agents do; each probe pair
is then answered by :class:`reach.Explainer` and compared with the fixture's expected matrix.
Rows from a node (``from_nodes``) are walked directly through the same compiled rulesets:
the node's own traffic to its pods never reaches a forward hook, and its traffic to another
host's pods arrives there from the node's underlay address.
"""

from __future__ import annotations

import ipaddress

import pytest

from kubernetes import fixtures
from romana.core import ruleset
from romana.core.kubernetes import explain
from romana.core.policy import evaluate, reach

UNDERLAY = ipaddress.IPv4Network("192.0.2.0/24")


def observe(phase: fixtures.Phase, probe: fixtures.Probe) -> dict[tuple[str, str], bool]:
    cluster = phase.cluster
    explainer = reach.Explainer(explain.model(cluster))
    seen = {}
    for src, dst in probe.expected:
        if src.startswith("node/"):
            host = src.split("/", 1)[1]
            pod = cluster.pod(dst)
            same = pod.node == host
            packet = evaluate.Packet(
                UNDERLAY.network_address + cluster.hosts[host],
                pod.ips[0],
                ruleset.Proto(probe.protocol.lower()),
                evaluate.Path.FROM_HOST if same else evaluate.Path.TO_ENDPOINT,
                dport=probe.port,
            )
            seen[src, dst] = evaluate.verdict(explainer.firewall(pod.node).rules, packet).allowed
            continue
        result = explainer.explain(src, dst, f"{probe.protocol}/{probe.port}")
        seen[src, dst] = result.allowed
    return seen


PHASES = fixtures.all_phases()


def test_the_suite_covers_enough_cases() -> None:
    assert len(fixtures.SCENARIOS) >= 40
    sources = [p.read_text() for p in fixtures.SCENARIOS]
    assert sum("upstream e2e" in s for s in sources) >= 40
    assert sum("§4.7 edge case" in s for s in sources) >= 8


@pytest.mark.parametrize("phase", PHASES, ids=[p.id for p in PHASES])
def test_scenario_matrix_by_the_evaluator(phase: fixtures.Phase) -> None:
    problems = []
    for probe in phase.probes:
        seen = observe(phase, probe)
        if seen != probe.expected:
            problems.append(fixtures.table(probe, seen))
    assert not problems, "\n".join(problems)
