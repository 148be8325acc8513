"""A tenant's isolation over HTTP: explicit, shown, chosen at creation, changed by an admin only."""

from __future__ import annotations

from unit.api.conftest import Api

ROMANA = {"mode": "romana", "segments": "isolated"}
OPEN = {"mode": "romana", "segments": "open"}
KUBERNETES = {"mode": "kubernetes", "segments": "isolated"}


def test_a_new_tenant_is_isolated_by_tenant_and_segment_unless_it_says_otherwise(
    api: Api,
) -> None:
    plain = api.admin.post("/v1/tenants", json={"name": "iso-plain"})
    assert plain.status_code == 201, plain.text
    assert plain.json()["isolation"] == ROMANA
    kube = api.admin.post(
        "/v1/tenants", json={"name": "iso-kube", "isolation": {"mode": "kubernetes"}}
    )
    assert kube.json()["isolation"] == KUBERNETES
    listed = {t["name"]: t["isolation"] for t in api.admin.get("/v1/tenants").json()}
    assert listed["iso-plain"] == ROMANA and listed["iso-kube"] == KUBERNETES


def test_only_an_admin_changes_a_tenants_isolation(api: Api) -> None:
    assert api.admin.post("/v1/tenants", json={"name": "iso-owned"}).status_code == 201
    own = api.user("iso-owner", "tenant", "iso-owned")
    service = api.user("iso-service", "service")
    for caller in (own, service):
        refused = caller.put("/v1/tenants/iso-owned/isolation", json=OPEN)
        assert refused.status_code == 403, refused.text
        assert "set-isolation" in refused.json()["detail"]
    assert api.admin.get("/v1/tenants/iso-owned").json()["isolation"] == ROMANA
    changed = api.admin.put("/v1/tenants/iso-owned/isolation", json=OPEN)
    assert changed.status_code == 200, changed.text
    assert changed.json()["isolation"] == OPEN
    assert own.get("/v1/tenants/iso-owned").json()["isolation"] == OPEN
    # A service creates namespaces' tenants with their mode; that is creation, not a change.
    made = service.post("/v1/tenants", json={"name": "iso-ns", "isolation": KUBERNETES})
    assert made.status_code == 201 and made.json()["isolation"] == KUBERNETES


def test_a_bad_isolation_names_the_field_and_changes_nothing(api: Api) -> None:
    assert api.admin.post("/v1/tenants", json={"name": "iso-bad"}).status_code == 201
    for body, field in (
        ({"mode": "calico"}, "mode"),
        ({"segments": "half"}, "segments"),
        ({"mode": "romana", "colour": "red"}, "colour"),
    ):
        refused = api.admin.put("/v1/tenants/iso-bad/isolation", json=body)
        assert refused.status_code == 422, refused.text
        assert field in refused.text
    assert api.admin.get("/v1/tenants/iso-bad").json()["isolation"] == ROMANA
    missing = api.admin.put("/v1/tenants/nobody/isolation", json=OPEN)
    assert missing.status_code == 404
