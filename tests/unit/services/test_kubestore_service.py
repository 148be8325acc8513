"""The stored Kubernetes objects: canonical, replaced whole, written only when changed."""

from __future__ import annotations

from typing import Any

import pytest

from romana.core.errors import InvalidInput, Unavailable
from romana.core.identifiers import TenantName
from romana.core.kubernetes import networkpolicy, translation
from romana.core.kubernetes import objects as ko
from romana.core.kubernetes import record as kube_record
from romana.core.kubernetes import sync as kube_sync
from romana.core.store import Store
from romana.services import keys, kubestore, kubesync, quotas
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
POLICY: dict[str, Any] = {
    "kind": "NetworkPolicy",
    "metadata": {"name": "web", "namespace": "a", "managedFields": [{"manager": "kubectl"}]},
    "spec": {
        "podSelector": {"matchLabels": {"app": "web"}},
        "ingress": [{"ports": [{"port": 80}]}],
    },
}


def synced(port: kube_sync.Romanad, *policies: dict[str, Any]) -> kube_sync.Outcome:
    """One sync of NAMESPACES and PODS with these NetworkPolicies (default settings)."""
    return kube_sync.sync(
        port,
        [ko.namespace(n) for n in NAMESPACES],
        [],
        [ko.pod(p) for p in PODS],
        [networkpolicy.network_policy(p) for p in policies],
        translation.Settings(),
        kube_sync.Owned(),
    )


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
    policies = [networkpolicy.network_policy(POLICY)]
    settings = translation.Settings()
    kube_sync.sync(port, namespaces, [], pods, policies, settings, kube_sync.Owned())
    stored = port.kube_objects()
    objects = kube_record.record(namespaces, pods, policies)
    assert {k: v for k, v in stored.items() if k != "derived"} == {
        k: v for k, v in objects.items() if k != "derived"
    }
    assert stored["derived"]["policies"] == sorted(port.policies())
    assert stored["derived"]["segment_label"] == translation.SEGMENT_LABEL
    revision = store.revision()
    kube_sync.sync(port, namespaces, [], pods, policies, settings, kube_sync.Owned())
    assert store.revision() == revision


def test_the_sync_creates_kubernetes_tenants_and_removes_only_policies_it_wrote(
    svc: Services,
) -> None:
    port = kubesync.ServicesRomanad(svc.store)
    # A Romana v2 policy whose id looks like one the v2 listener wrote: it is the user's.
    users = {
        "id": "kube.a.pol1.6f1c2d3e",
        "direction": "ingress",
        "applied_to": [{"tenant_id": "a", "segment_id": "default"}],
        "ingress": [{"peers": [{"peer": "any"}], "rules": [{"protocol": "tcp", "ports": [80]}]}],
    }
    port.policy_service.add(users)
    # The namespace marker earlier releases stored: removed, matched on the whole document.
    legacy = {
        "id": "kube.b",
        "name": "kube.b",
        "description": "Kubernetes namespace b: pods no NetworkPolicy selects accept all",
        "applied_to": [{"tenant": "b"}],
        "ingress": [{"peers": [{"peer": "any"}], "rules": [{"protocol": "any"}]}],
    }
    port.policy_service.add(legacy)
    synced(port, POLICY)
    assert {t.name: t.isolation for t in port.tenant_service.list_all()} == {
        "a": translation.ISOLATION,
        "b": translation.ISOLATION,
    }
    assert set(port.policies()) == {"a/kube.a.pol1.6f1c2d3e", "a/kube.a.web"}
    synced(port)
    assert set(port.policies()) == {"a/kube.a.pol1.6f1c2d3e"}, (
        "the NetworkPolicy's went, the user's stayed"
    )


class FailingLastRecord(kubesync.ServicesRomanad):
    """Fails the record write that ends a sync, as a crash right before it would."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.puts = 0
        self.fail_at = 0

    def put_kube_objects(self, record: Any) -> None:
        self.puts += 1
        if self.puts == self.fail_at:
            raise Unavailable("the store went away")
        super().put_kube_objects(record)


def test_a_sync_cut_short_leaves_no_policy_it_wrote_without_an_owner(svc: Services) -> None:
    port = FailingLastRecord(svc.store)
    api = {**POLICY, "metadata": {"name": "api", "namespace": "a"}}
    synced(port, POLICY)
    port.fail_at = port.puts + 2  # the second record write of the next sync
    with pytest.raises(Unavailable):
        synced(port, api)
    assert "a/kube.a.api" in port.policies()
    synced(port)
    assert set(port.policies()) == set(), "what the cut-short sync wrote was still its own"


def test_a_tenant_an_operator_made_is_never_removed_or_remade_by_the_sync(
    svc: Services,
) -> None:
    port = kubesync.ServicesRomanad(svc.store)
    svc.tenants.create(TenantName("a"), "ops-made")
    settings = translation.Settings()
    owned = kube_sync.Owned()
    namespaces = [ko.namespace(n) for n in NAMESPACES]
    kube_sync.sync(port, namespaces, [], [], [], settings, owned)
    assert owned.tenants == {"b"}
    kube_sync.sync(port, [], [], [], [], settings, owned)
    assert {t.name for t in svc.tenants.list_all()} == {"a"}, "b was the sync's, a was not"
    assert svc.tenants.get(TenantName("a")).isolation.mode == "romana"
    # A restarted listener knows its own tenants again by their namespace's uid.
    made = {"kind": "Namespace", "metadata": {"name": "c", "uid": "uid-c"}}
    kube_sync.sync(port, [ko.namespace(made)], [], [], [], settings, kube_sync.Owned())
    restarted = kube_sync.Owned()
    kube_sync.sync(port, [ko.namespace(made)], [], [], [], settings, restarted)
    assert restarted.tenants == {"c"}


def test_the_sync_leaves_sets_it_did_not_derive(svc: Services) -> None:
    port = kubesync.ServicesRomanad(svc.store)
    port.put_address_set("kube.mine", ["10.1.17.9/32"])
    synced(port, POLICY)
    derived = set(port.address_sets()) - {"kube.mine"}
    assert derived
    synced(port)
    assert set(port.address_sets()) <= {"kube.mine", translation.NOTHING}
    assert "kube.mine" in port.address_sets()


class FailingSetRemoval(kubesync.ServicesRomanad):
    """Fails the first set removal, as a crash in the middle of a sync would."""

    failed = False

    def remove_address_set(self, name: str) -> None:
        if not self.failed:
            self.failed = True
            raise Unavailable("the store went away")
        super().remove_address_set(name)


def test_a_set_of_a_changed_selector_is_removed_after_a_sync_cut_short(svc: Services) -> None:
    port = FailingSetRemoval(svc.store)
    synced(port, POLICY)
    before = set(port.address_sets())
    spec = {**POLICY["spec"], "podSelector": {"matchLabels": {"app": "db"}}}
    changed = {**POLICY, "spec": spec}
    with pytest.raises(Unavailable):
        synced(port, changed)
    synced(port)
    assert set(port.address_sets()) <= {translation.NOTHING}, before


def test_a_namespace_over_its_policy_quota_does_not_stop_the_others(svc: Services) -> None:
    port = kubesync.ServicesRomanad(svc.store)
    synced(port)
    quotas.QuotaService(svc.store).set_override(TenantName("a"), {"policies": 1})
    api = {**POLICY, "metadata": {"name": "api", "namespace": "a"}}
    other = {**POLICY, "metadata": {"name": "web", "namespace": "b"}}
    outcome = synced(port, POLICY, api, other)
    stored = set(port.policies())
    assert "b/kube.b.web" in stored, "namespace b's policy is enforced"
    assert len({p for p in stored if p.startswith("a/")}) == 1, "a holds what its quota allows"
    (refused, why), *more = outcome.refused
    assert refused.startswith("policies/a/") and not more, "the answer names what was refused"
    assert "quota" in why
    assert "policies/b/kube.b.web" in outcome.created
