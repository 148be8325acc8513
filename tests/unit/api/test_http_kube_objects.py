"""``/v1/kube/objects``: the Kubernetes objects ``romana explain`` answers from, over HTTP."""

from __future__ import annotations

from typing import Any

from unit.api.conftest import Api

BODY = {
    "namespaces": [{"kind": "Namespace", "metadata": {"name": "kx", "labels": {"ns": "kx"}}}],
    "pods": [
        {
            "kind": "Pod",
            "metadata": {"name": "a", "namespace": "kx", "labels": {"pod": "a"}},
            "spec": {"nodeName": "h1"},
            "status": {"podIP": "10.1.17.1", "phase": "Running"},
        }
    ],
    "networkpolicies": [
        {
            "kind": "NetworkPolicy",
            "metadata": {"name": "deny", "namespace": "kx"},
            "spec": {"podSelector": {}},
        }
    ],
    "clusternetworkpolicies": [
        {
            "apiVersion": "policy.networking.k8s.io/v1alpha2",
            "metadata": {"name": "guard"},
            "spec": {"tier": "Baseline", "priority": 1, "subject": {"namespaces": {}}},
        }
    ],
}


def test_put_then_get_gives_the_canonical_record(api: Api) -> None:
    put = api.admin.put("/v1/kube/objects", json=BODY)
    assert put.status_code == 200, put.text
    record = put.json()
    assert api.admin.get("/v1/kube/objects").json() == record
    assert record["pods"][0]["status"] == {"podIPs": [{"ip": "10.1.17.1"}]}
    assert record["networkpolicies"][0]["spec"]["policyTypes"] == ["Ingress"]
    assert record["clusternetworkpolicies"][0]["kind"] == "ClusterNetworkPolicy"
    cleared = api.admin.put("/v1/kube/objects", json={})
    empty: dict[str, list[Any]] = {
        "namespaces": [],
        "pods": [],
        "networkpolicies": [],
        "clusternetworkpolicies": [],
    }
    assert cleared.json() == {**empty, "derived": None}


def test_what_syncs_derived_is_kept_with_the_record_and_checked(api: Api) -> None:
    derived = {
        "policies": ["kube.a.web"],
        "sets": ["kube.none"],
        "segment_label": "tier",
        "vips": ["k-a-web"],
        "external_ips": {"203.0.113.7": "c1:eth0"},
    }
    put = api.admin.put("/v1/kube/objects", json={**BODY, "derived": derived})
    assert put.status_code == 200, put.text
    assert api.admin.get("/v1/kube/objects").json()["derived"] == derived
    bad = api.admin.put("/v1/kube/objects", json={**BODY, "derived": {"policies": [1]}})
    assert bad.status_code == 422
    assert api.admin.get("/v1/kube/objects").json()["derived"] == derived
    assert api.admin.put("/v1/kube/objects", json={}).json()["derived"] is None


def test_bad_shapes_are_422_problems_and_change_nothing(api: Api) -> None:
    assert api.admin.put("/v1/kube/objects", json=BODY).status_code == 200
    before = api.admin.get("/v1/kube/objects").json()
    unknown = api.admin.put("/v1/kube/objects", json={**BODY, "nodes": []})
    assert unknown.status_code == 422
    assert unknown.headers["content-type"] == "application/problem+json"
    not_objects = api.admin.put("/v1/kube/objects", json={"pods": ["a"]})
    assert not_objects.status_code == 422
    broken = {**BODY, "pods": [{"metadata": {"name": "b"}, "status": {"podIP": "x"}}]}
    bad = api.admin.put("/v1/kube/objects", json=broken)
    assert bad.status_code == 422
    assert {i["field"] for i in bad.json()["issues"]} == {"pods[0].status.podIPs[0]"}
    assert api.admin.get("/v1/kube/objects").json() == before


def test_only_admin_and_service_read_and_write(api: Api) -> None:
    agent = api.user("agent-kube", "agent", host="h1")
    assert agent.get("/v1/kube/objects").status_code == 403
    assert agent.put("/v1/kube/objects", json=BODY).status_code == 403
    service = api.user("service-kube", "service")
    assert service.put("/v1/kube/objects", json=BODY).status_code == 200
    tenant = api.user("tenant-kube", "tenant", tenant="kube")
    assert tenant.get("/v1/kube/objects").status_code == 403
    assert tenant.put("/v1/kube/objects", json=BODY).status_code == 403
    anonymous = api.client()
    assert anonymous.get("/v1/kube/objects").status_code == 401
    assert anonymous.put("/v1/kube/objects", json=BODY).status_code == 401
