"""``romana explain`` names the ClusterNetworkPolicy, tier, priority and rule that decided,
and every Pass the traffic went through (offline, from YAML as ``romana explain -f`` reads it).

``tests/data/cnp-guard-pay.yaml``: namespaces ``shop`` and ``pay``; an Admin-tier policy
``guard-pay`` (priority 10) on ``pay`` whose rule 0 passes ``pay``'s own traffic on and whose
rule 1 denies every other namespace.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from romana.core.kubernetes import explain
from romana.core.policy import reach

DOCUMENTS = list(
    yaml.safe_load_all((Path(__file__).parents[3] / "data" / "cnp-guard-pay.yaml").read_text())
)
NAMES = ("shop/web-0", "pay/db-0")


def _explain(source: str, target: str) -> reach.Explanation:
    model = explain.offline_model(DOCUMENTS, "10.0.0.0/8,4,4,8", NAMES)
    return reach.Explainer(model).explain(source, target, "tcp/5432")


def test_a_deny_names_the_clusternetworkpolicy_its_tier_priority_and_rule() -> None:
    answer = _explain("shop/web-0", "pay/db-0")
    assert not answer.allowed
    rule = answer.ingress.rule
    assert rule is not None
    assert (rule.tier, rule.priority, rule.action) == ("admin", 10, "deny")
    assert (rule.clusternetworkpolicy, rule.clusternetworkpolicy_rule) == ("guard-pay", 1)
    assert answer.ingress.decided_by[0] == (
        "denied by Admin tier ClusterNetworkPolicy guard-pay (priority 10) ingress rule 1 "
        "'nobody-else': deny"
    )
    assert answer.to_dict()["ingress"]["rule"]["clusternetworkpolicy"] == "guard-pay"


def test_a_pass_is_named_and_the_next_tier_decides() -> None:
    model = explain.offline_model(
        [*DOCUMENTS, *_pay_pod("db-1")], "10.0.0.0/8,4,4,8", ("pay/db-0", "pay/db-1")
    )
    answer = reach.Explainer(model).explain("pay/db-1", "pay/db-0", "tcp/5432")
    assert answer.allowed
    assert any(
        line.startswith(
            "after Admin tier ClusterNetworkPolicy guard-pay (priority 10) ingress rule 0"
        )
        and line.endswith(": pass")
        for line in answer.ingress.decided_by
    ), answer.ingress.decided_by


def _pay_pod(name: str) -> list[dict[str, object]]:
    return [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "pay", "labels": {"app": "db"}},
            "spec": {"nodeName": "host-1", "containers": [{"name": "c"}]},
        }
    ]


def test_isolation_by_a_networkpolicy_names_no_clusternetworkpolicy() -> None:
    isolating = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "only-own", "namespace": "shop"},
        "spec": {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]},
    }
    floor = {
        "apiVersion": "policy.networking.k8s.io/v1alpha2",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": "shop-floor"},
        "spec": {
            "tier": "Baseline",
            "priority": 1,
            "subject": {"namespaces": {"matchLabels": {"team": "shop"}}},
            "ingress": [{"action": "Accept", "from": [{"namespaces": {}}]}],
        },
    }
    documents = [*DOCUMENTS, isolating, floor]
    model = explain.offline_model(documents, "10.0.0.0/8,4,4,8", NAMES)
    answer = reach.Explainer(model).explain("pay/db-0", "shop/web-0", "tcp/80")
    assert not answer.allowed
    said = " ".join(answer.ingress.decided_by)
    assert "isolated for ingress by NetworkPolicy shop/only-own" in said
    assert "shop-floor" not in said, "a Baseline policy is never reached for a selected pod"
