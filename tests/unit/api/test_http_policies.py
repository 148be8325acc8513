"""Policies over HTTP: what the dataplane cannot express is refused when it is posted."""

from __future__ import annotations

from typing import Any

from unit.api.conftest import Api

ALLOW_SSH: dict[str, Any] = {
    "name": "allow-ssh",
    "applied_to": [{"tenant": "shop"}],
    "ingress": [{"peers": [{"peer": "any"}], "rules": [{"protocol": "tcp", "ports": [22]}]}],
}
DENY_FROM_HOST: dict[str, Any] = {
    "name": "no-host-ssh",
    "action": "deny",
    "applied_to": [{"tenant": "shop"}],
    "ingress": [{"peers": [{"peer": "host"}], "rules": [{"protocol": "tcp", "ports": [22]}]}],
}


def test_an_inexpressible_policy_is_422_naming_it_and_why_and_nothing_is_stored(
    api: Api,
) -> None:
    r = api.admin.post("/v1/policies", json=[ALLOW_SSH, DENY_FROM_HOST])
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == 422
    assert problem["detail"] == (
        "policy 'no-host-ssh': the host's own traffic to its endpoints is never filtered "
        "(it must reach its workloads), so a deny from peer host cannot be enforced"
    )
    assert api.admin.get("/v1/policies/no-host-ssh").status_code == 404
    assert api.admin.get("/v1/policies/allow-ssh").status_code == 404
    r = api.admin.post("/v1/policies", json=ALLOW_SSH)
    assert r.status_code == 201, r.text


def test_put_replaces_a_policy_under_its_id_and_checks_who_may(api: Api) -> None:
    for name in ("put-a", "put-b"):
        assert api.admin.post("/v1/tenants", json={"name": name}).status_code in (201, 409)
    first = {**ALLOW_SSH, "name": "put-ssh", "applied_to": [{"tenant": "put-a"}]}
    made = api.admin.put("/v1/policies/put-ssh", json=first)
    assert made.status_code == 200, made.text
    wider = {**first, "ingress": [{"peers": [{"peer": "any"}], "rules": [{"protocol": "any"}]}]}
    assert api.admin.put("/v1/policies/put-ssh", json=wider).json()["ingress"] == wider["ingress"]
    assert api.admin.get("/v1/policies/put-ssh").json()["ingress"] == wider["ingress"]
    wrong = api.admin.put("/v1/policies/other-id", json=first)
    assert wrong.status_code == 422 and "id" in wrong.text
    refused = api.admin.put("/v1/policies/put-ssh", json={**first, "ingress": "x"})
    assert refused.status_code == 422
    # A tenant user cannot take over another tenant's policy: the same name is its own.
    b_user = api.user("put-b-user", "tenant", "put-b")
    assert b_user.put("/v1/policies/put-a/put-ssh", json=first).status_code == 403
    own = {**first, "applied_to": [{"tenant": "put-b"}]}
    assert b_user.put("/v1/policies/put-a/put-ssh", json=own).status_code == 422
    assert b_user.put("/v1/policies/put-ssh", json=own).json()["id"] == "put-b/put-ssh"
    assert api.admin.get("/v1/policies/put-a/put-ssh").json()["ingress"] == wider["ingress"]
    for pid in ("put-a/put-ssh", "put-b/put-ssh"):
        assert api.admin.delete(f"/v1/policies/{pid}").status_code == 200


def test_tiered_policies_are_the_cluster_admins_even_when_applied_to_one_tenant(api: Api) -> None:
    assert api.admin.post("/v1/tenants", json={"name": "tier-a"}).status_code in (201, 409)
    guard: dict[str, Any] = {
        "name": "guard-a",
        "tier": "admin",
        "priority": 5,
        "applied_to": [{"tenant": "tier-a"}],
        "ingress": [{"action": "deny", "peers": [{"peer": "any"}], "rules": [{"protocol": "any"}]}],
    }
    user = api.user("tier-a-user", "tenant", "tier-a")
    refused = user.post(
        "/v1/policies", json={**guard, "ingress": [{**guard["ingress"][0], "action": "allow"}]}
    )
    assert refused.status_code == 403, refused.text
    made = api.admin.post("/v1/policies", json=guard)
    assert made.status_code == 201, made.text
    assert made.json()[0]["id"] == "guard-a"
    assert made.json()[0]["tier"] == "admin" and made.json()[0]["priority"] == 5
    assert user.delete("/v1/policies/guard-a").status_code in (403, 404)
    assert api.admin.get("/v1/policies/guard-a").status_code == 200
    bad = {**guard, "name": "bad", "priority": 2000, "action": "allow"}
    problem = api.admin.post("/v1/policies", json=bad)
    assert problem.status_code == 422
    assert "priority" in problem.text and "action" in problem.text
    assert api.admin.delete("/v1/policies/guard-a").status_code == 200
