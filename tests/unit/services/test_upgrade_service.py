"""romanad's start-up upgrade: a store an earlier release wrote keeps enforcing what it did."""

from __future__ import annotations

import json
from typing import Any

from romana.core.identifiers import SegmentName, TenantName
from romana.core.kubernetes import networkpolicy, translation
from romana.core.kubernetes import objects as ko
from romana.core.kubernetes import sync as kube_sync
from romana.core.policy import ids
from romana.core.store import Delete, Put
from romana.services import keys, kubestore, kubesync, upgrade
from unit.services.conftest import Services

NAMESPACES = [{"kind": "Namespace", "metadata": {"name": n, "uid": f"uid-{n}"}} for n in "ab"]
PODS = [
    {
        "metadata": {"name": "db", "namespace": "a", "labels": {"app": "db"}},
        "spec": {"nodeName": "h1"},
        "status": {"podIPs": [{"ip": "10.1.17.1"}]},
    }
]
POLICY = {
    "kind": "NetworkPolicy",
    "metadata": {"name": "db", "namespace": "a"},
    "spec": {
        "podSelector": {"matchLabels": {"app": "db"}},
        "ingress": [{"ports": [{"port": 5432}]}],
    },
}


def earlier_release(svc: Services) -> None:
    """What a sync of the release before isolation modes left: tenants without a mode, one
    marker policy per namespace, pod targets as plain sets."""
    port = kubesync.ServicesRomanad(svc.store)
    namespaces = [ko.namespace(n) for n in NAMESPACES]
    kube_sync.sync(
        port,
        namespaces,
        [],
        [ko.pod(p) for p in PODS],
        [networkpolicy.network_policy(POLICY)],
        translation.Settings(),
        kube_sync.Owned(),
    )
    ops: list[Put | Delete] = []
    for tenant in svc.tenants.list_all():
        raw = tenant.to_dict()
        del raw["isolation"]
        ops.append(Put(keys.tenant(tenant.name), json.dumps(raw).encode()))
        marker: dict[str, Any] = {
            "id": f"kube.{tenant.name}",
            "name": f"kube.{tenant.name}",
            "description": (
                f"Kubernetes namespace {tenant.name}: pods no NetworkPolicy selects accept all"
            ),
            "action": "allow",
            "applied_to": [{"tenant": tenant.name}],
            "ingress": [{"peers": [{"peer": "any"}], "rules": [{"protocol": "any"}]}],
        }
        ops.append(Put(keys.policy(marker["id"]), json.dumps(marker).encode()))
    # That release stored each policy under its bare name, and its record listed those.
    old = port.policies()["a/kube.a.db"] | {"id": "kube.a.db"}
    for target in old["applied_to"]:
        target.pop("tenant", None)
    ops += [Delete(keys.policy("a/kube.a.db")), Put(keys.policy("kube.a.db"), dumps(old))]
    record = json.loads(svc.store.get(keys.KUBE_DERIVED).value)  # type: ignore[union-attr]
    record["policies"] = [ids.split(p)[1] for p in record["policies"]]
    ops.append(Put(keys.KUBE_DERIVED, dumps(record)))
    svc.store.txn([], ops)


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def test_an_earlier_releases_kubernetes_state_is_upgraded_once(svc: Services) -> None:
    earlier_release(svc)
    notes = upgrade.run(svc.store)
    assert len(notes) == 3, notes
    assert {t.name: t.isolation for t in svc.tenants.list_all()} == {
        "a": translation.ISOLATION,
        "b": translation.ISOLATION,
    }
    policies = kubesync.ServicesRomanad(svc.store).policies()
    assert set(policies) == {"a/kube.a.db"}, "the markers are gone, the policy is a's"
    assert [t.get("tenant") for t in policies["a/kube.a.db"]["applied_to"]] == ["a"]
    derived = kubestore.KubeObjectService(svc.store).get()["derived"]
    assert derived["policies"] == ["a/kube.a.db"], "the record names the policy by its id"
    assert upgrade.run(svc.store) == []


def test_a_current_store_is_left_as_it_is(svc: Services) -> None:
    svc.tenants.create(TenantName("t"))
    revision = svc.store.revision()
    assert upgrade.run(svc.store) == []
    assert svc.store.revision() == revision


def test_a_listener_syncing_before_the_upgrade_keeps_the_markers_it_needs(svc: Services) -> None:
    earlier_release(svc)
    port = kubesync.ServicesRomanad(svc.store)
    kube_sync.sync(
        port,
        [ko.namespace(n) for n in NAMESPACES],
        [],
        [ko.pod(p) for p in PODS],
        [networkpolicy.network_policy(POLICY)],
        translation.Settings(),
        kube_sync.Owned(),
    )
    assert {"kube.a", "kube.b"} <= set(port.policies()), "markers stay until recorded"
    upgrade.run(svc.store)
    assert {t.isolation for t in svc.tenants.list_all()} == {translation.ISOLATION}
    assert set(port.policies()) == {"a/kube.a.db"}


def test_the_rewrite_uses_the_segment_label_the_sync_used(svc: Services) -> None:
    port = kubesync.ServicesRomanad(svc.store)
    settings = translation.Settings(segment_label="tier")
    fe = {**POLICY, "spec": {"podSelector": {"matchLabels": {"tier": "fe"}}, "ingress": [{}]}}
    for tenant in ("a", "b"):
        svc.tenants.create(TenantName(tenant), f"uid-{tenant}", isolation=translation.ISOLATION)
    svc.tenants.add_segment(TenantName("a"), SegmentName("fe"))
    kube_sync.sync(
        port,
        [ko.namespace(n) for n in NAMESPACES],
        [],
        [],
        [networkpolicy.network_policy(fe)],
        settings,
        kube_sync.Owned(),
    )
    revision = svc.store.revision()
    assert upgrade.run(svc.store) == []
    assert svc.store.revision() == revision
