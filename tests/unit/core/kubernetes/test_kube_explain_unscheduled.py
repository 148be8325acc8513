"""``romana explain -f`` on pods as ``kubectl run`` writes them: no node, no address."""

from __future__ import annotations

from typing import Any

from romana.core import addressing
from romana.core.kubernetes import explain, record
from romana.core.policy import reach

NETWORK = "10.0.0.0/8,4,4,8"


def pod(namespace: str, name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    }


DENY_FROM_OTHERS = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "web-from-own", "namespace": "shop"},
    "spec": {
        "podSelector": {"matchLabels": {"app": "web"}},
        "ingress": [{"from": [{"podSelector": {}}]}],
    },
}
PODS = [pod("shop", "web", {"app": "web"}), pod("shop", "cart", {}), pod("other", "x", {})]


def explained(source: str, target: str, documents: list[dict[str, Any]]) -> reach.Explanation:
    model = explain.offline_model(documents, NETWORK, (source, target))
    return reach.Explainer(model).explain(source, target, "tcp/80")


def test_unscheduled_pods_are_placed_and_judged() -> None:
    documents = [*PODS, DENY_FROM_OTHERS]
    assert explained("shop/cart", "shop/web", documents).allowed
    assert not explained("other/x", "shop/web", documents).allowed
    assert explained("shop/web", "other/x", documents).allowed


def test_they_run_on_the_node_the_files_name_and_get_distinct_addresses() -> None:
    placed = {**pod("shop", "db", {}), "spec": {"nodeName": "n7"}}
    cluster = explain.of_objects(
        record.of_documents([*PODS, placed]),
        {"pods": addressing.layout("pods", "10.0.0.0/8", 4, 4, 8)},
    )
    assert {p.node for p in cluster.pods} == {"n7"}
    addresses = [ip for p in cluster.pods for ip in p.ips]
    assert len(addresses) == len(set(addresses)) == 4
