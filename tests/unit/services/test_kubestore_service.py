"""The stored Kubernetes objects: canonical, replaced whole, written only when changed."""

from __future__ import annotations

import pytest

from romana.core.errors import InvalidInput
from romana.core.policy import kubeobjects as ko
from romana.core.policy import kubernetes
from romana.core.store import Store
from romana.services import keys, kubestore, kubesync
from unit.services.conftest import Services

NAMESPACES = [
    {"kind": "Namespace", "metadata": {"name": n, "labels": {"team": n}}} for n in ("a", "b")
]
PODS = [
    {
        "metadata": {"name": "web", "namespace": ns, "labels": {"app": "web"}, "uid": "u1"},
        "spec": {
            "nodeName": "h1",
            "containers": [{"ports": [{"name": "http", "containerPort": 80}]}],
        },
        "status": {"podIPs": [{"ip": ip}], "conditions": [{"type": "Ready"}]},
    }
    for ns, ip in (("a", "10.1.17.1"), ("b", "10.1.33.1"))
]
POLICY = {
    "kind": "NetworkPolicy",
    "metadata": {"name": "web", "namespace": "a", "managedFields": [{"manager": "kubectl"}]},
    "spec": {
        "podSelector": {"matchLabels": {"app": "web"}},
        "ingress": [{"ports": [{"port": 80}]}],
    },
}


def test_put_keeps_only_what_policy_reads_and_reads_back_equal(store: Store) -> None:
    service = kubestore.KubeObjectService(store)
    stored = service.put({"namespaces": NAMESPACES, "pods": PODS, "networkpolicies": [POLICY]})
    assert service.get() == stored
    assert "conditions" not in str(stored) and "managedFields" not in str(stored)
    assert [ko.parse(p) for p in stored["pods"]] == [ko.parse({"kind": "Pod", **p}) for p in PODS]
    assert ko.parse(stored["networkpolicies"][0]) == ko.parse(POLICY)
    assert sorted(kv.key for kv in store.range(keys.KUBE).items) == [
        keys.KUBE_NAMESPACES,
        keys.KUBE_POLICIES + "a",
        keys.KUBE_PODS + "a",
        keys.KUBE_PODS + "b",
    ]


def test_an_equal_put_writes_nothing_and_a_smaller_one_removes(store: Store) -> None:
    service = kubestore.KubeObjectService(store)
    body = {"namespaces": NAMESPACES, "pods": PODS, "networkpolicies": [POLICY]}
    service.put(body)
    revision = store.revision()
    service.put(body)
    assert store.revision() == revision
    service.put({"namespaces": NAMESPACES[:1], "pods": PODS[:1]})
    assert store.revision() == revision + 1, "one transaction"
    assert [kv.key for kv in store.range(keys.KUBE).items] == [
        keys.KUBE_NAMESPACES,
        keys.KUBE_PODS + "a",
    ]
    assert service.get()["networkpolicies"] == []


def test_every_bad_object_is_named_and_nothing_is_stored(store: Store) -> None:
    service = kubestore.KubeObjectService(store)
    bad_pod = {"metadata": {"name": "x"}, "status": {"podIPs": [{"ip": "nope"}]}}
    with pytest.raises(InvalidInput) as caught:
        service.put(
            {
                "namespaces": [{"metadata": {}}],
                "pods": [PODS[0], bad_pod, NAMESPACES[0]],
                "extra": [],
            }
        )
    fields = {i.field for i in caught.value.issues}
    assert fields == {
        "extra",
        "namespaces[0].metadata.name",
        "pods[1].status.podIPs[0]",
        "pods[2].kind",
    }
    assert not store.range(keys.KUBE).items


def test_the_sync_stores_what_it_translated_and_only_changes(svc: Services) -> None:
    store = svc.store
    port = kubesync.ServicesRomanad(store)
    namespaces = [ko.namespace(n) for n in NAMESPACES]
    pods = [ko.pod(p) for p in PODS]
    policies = [ko.network_policy(POLICY)]
    settings = kubernetes.Settings()
    kubesync.sync(port, namespaces, [], pods, policies, settings, kubesync.Owned())
    assert port.kube_objects() == kubestore.record(namespaces, pods, policies)
    revision = store.revision()
    kubesync.sync(port, namespaces, [], pods, policies, settings, kubesync.Owned())
    assert store.revision() == revision
