"""The ClusterNetworkPolicy scenarios (``scenarios/cnp-*.yaml``) against the reference evaluator.

:mod:`test_k8s_scenarios_pure` checks every scenario's expected matrix with the engine behind
``romana explain`` (the compiled rules, walked). Here every pair of every ``cnp-*`` phase is
also judged by the pure tier evaluator over the objects themselves
(:func:`romana.core.kubernetes.cnp.evaluate.evaluate`, NetworkPolicy answered by
:func:`romana.core.kubernetes.cnp.netpol.judge`): a second reading of the API's order
(Admin tier, NetworkPolicy, Baseline tier, default) that shares no code with the compiled
path. The two must agree on every pair, and where the reference says a ClusterNetworkPolicy
rule decided, the explanation must name that rule: its tier, its policy (``kube.cnp:<name>``)
and the ClusterNetworkPolicy and rule index it comes from, its name and action, and every
Pass rule the traffic went through first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubernetes import fixtures
from romana.core.kubernetes import explain
from romana.core.kubernetes.cnp import evaluate, netpol
from romana.core.kubernetes.cnp.flow import Endpoint, Flow
from romana.core.kubernetes.cnp.model import Direction
from romana.core.policy import reach

CNP = [p for p in fixtures.SCENARIOS if p.name.startswith("cnp-")]
PHASES = [phase for path in CNP for phase in fixtures.phases(path)]
PREFIX = "kube.cnp:"


def _documents(path: Path) -> list[dict[str, Any]]:
    raw = yaml.safe_load(path.read_text())
    return [doc for step in [raw, *raw.get("then", [])] for doc in step.get("policies", [])]


def _rules(path: Path) -> set[tuple[str, str, str]]:
    """(tier, direction, action) of every ClusterNetworkPolicy rule the scenario writes."""
    return {
        (doc["spec"]["tier"], direction, rule["action"])
        for doc in _documents(path)
        if doc["kind"] == "ClusterNetworkPolicy"
        for direction in ("ingress", "egress")
        for rule in doc["spec"].get(direction, [])
    }


def test_the_cnp_suite_covers_each_action_in_each_tier_and_direction() -> None:
    assert len(CNP) >= 32
    sources = [str(yaml.safe_load(p.read_text())["source"]) for p in CNP]
    upstream = [s for s in sources if s.startswith("network-policy-api conformance CNP")]
    assert len(upstream) >= 24, "most scenarios re-express a named upstream conformance test"
    written = set().union(*(_rules(p) for p in CNP))
    for tier in ("Admin", "Baseline"):
        for direction in ("ingress", "egress"):
            for action in ("Accept", "Deny", "Pass"):
                assert (tier, direction, action) in written


def reference(
    cluster: explain.Cluster, src: str, dst: str, probe: fixtures.Probe
) -> evaluate.Verdict:
    """The tier evaluator's verdict for ``src`` → ``dst`` on the objects of ``cluster``."""
    namespaces = {n.name: n for n in cluster.namespaces}
    a, b = cluster.pod(src), cluster.pod(dst)
    flow = Flow(
        Endpoint.of_pod(a, namespaces[a.namespace]),
        Endpoint.of_pod(b, namespaces[b.namespace]),
        probe.protocol,
        probe.port,
    )
    admin, baseline = evaluate.by_tier(cluster.cluster_policies)
    return evaluate.evaluate(admin, netpol.judge(cluster.policies), baseline, flow)


ACTIONS = {"Accept": "allow", "Deny": "deny", "Pass": "pass"}
"""A ClusterNetworkPolicy action → the tiered clause action ``romana explain`` names."""


def _naming(decision: evaluate.Decision, step: reach.Step) -> list[str]:
    """What ``step`` fails to name of the ClusterNetworkPolicy rules ``decision`` names."""
    problems = []
    ref, got = decision.rule, step.rule
    have: tuple[object, ...] | None = None
    if got is not None:
        have = (got.tier, got.policy, got.name, got.action)
        have += (got.clusternetworkpolicy, got.clusternetworkpolicy_rule)
    if ref is not None:
        tier, action = str(ref.tier).lower(), ACTIONS[str(ref.action)]
        want = (tier, PREFIX + ref.policy, ref.name, action, ref.policy, ref.index)
        if have != want:
            problems.append(f"{decision.direction}: reference {ref}; explain names {have}")
    elif decision.decider is evaluate.Decider.NETWORK_POLICY and have and have[0] is not None:
        problems.append(f"{decision.direction}: {decision}; explain names {have}")
    for passed in decision.passed:
        tier = str(passed.tier).lower()
        if not any(
            passed.policy in line and tier in line.lower() and line.endswith(": pass")
            for line in step.decided_by
        ):
            problems.append(f"{decision.direction}: passed {passed}; explain: {step.decided_by}")
    return problems


@pytest.mark.parametrize("phase", PHASES, ids=[p.id for p in PHASES])
def test_explain_agrees_with_the_reference_evaluator(phase: fixtures.Phase) -> None:
    explainer = reach.Explainer(explain.model(phase.cluster))
    problems = []
    for probe in phase.probes:
        for src, dst in probe.expected:
            if src.startswith("node/") or src == dst:
                continue
            want = reference(phase.cluster, src, dst, probe)
            got = explainer.explain(src, dst, f"{probe.protocol}/{probe.port}")
            pair = f"{probe.protocol}/{probe.port} {src} -> {dst}"
            if got.allowed != want.allowed:
                problems.append(
                    f"{pair}: reference {'allows' if want.allowed else 'denies'} "
                    f"({want.egress}; {want.ingress}), explain "
                    f"{'allows' if got.allowed else 'denies'} "
                    f"(egress {got.egress.decided_by}; ingress {got.ingress.decided_by})"
                )
                continue
            for decision in (want.egress, want.ingress) if want.allowed else (want.deciding,):
                step = got.egress if decision.direction is Direction.EGRESS else got.ingress
                problems += [f"{pair}: {p}" for p in _naming(decision, step)]
    assert not problems, "\n".join(problems[:20])
