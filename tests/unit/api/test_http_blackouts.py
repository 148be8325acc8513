"""Blackouts over HTTP: a range over an allocated address is 409 naming the allocation, and
single ranges are added and removed without replacing the list; admin work only."""

from __future__ import annotations

import httpx

from unit.api.conftest import Api

BLACKOUTS = "/v1/networks/pods/blackouts"


def blackouts(c: httpx.Client) -> list[str]:
    (pods,) = [n for n in c.get("/v1/networks").json() if n["name"] == "pods"]
    found: list[str] = pods["blackouts"]
    return found


def test_blacking_out_an_allocated_address_is_409_naming_the_allocation(api: Api) -> None:
    c = api.admin
    assert c.post("/v1/tenants", json={"name": "held"}).status_code == 201
    body = {"key": "held-1", "host": "h1", "tenant": "held"}
    addr = c.post("/v1/allocations", json=body).json()["addresses"][0]
    assert addr == "10.0.16.1"
    for method, path in (("POST", BLACKOUTS), ("PUT", BLACKOUTS)):
        r = c.request(method, path, json={"cidrs": ["10.0.16.0/30"]})
        assert r.status_code == 409, r.text
        assert r.headers["content-type"] == "application/problem+json"
        detail = r.json()["detail"]
        assert (
            "10.0.16.1 in 10.0.16.0/30 (key 'held-1', host 'h1', tenant 'held', "
            "segment 'default')" in detail
        )
    # Nothing changed: no blackout, and the address is still allocated to its key.
    assert blackouts(c) == []
    assert c.get("/v1/allocations/held-1").json()["addresses"] == [addr]
    assert c.delete("/v1/allocations/held-1").status_code == 200
    r = c.post(BLACKOUTS, json={"cidrs": ["10.0.16.0/30"]})
    assert r.status_code == 200 and r.json()["blackouts"] == ["10.0.16.0/30"]
    assert c.put(BLACKOUTS, json={"cidrs": []}).json()["blackouts"] == []
    assert c.delete("/v1/tenants/held").status_code == 200


def test_ranges_are_added_and_removed_one_by_one(api: Api) -> None:
    c = api.admin
    assert c.post(BLACKOUTS, json={"cidrs": ["10.0.16.0/30"]}).json()["blackouts"] == [
        "10.0.16.0/30"
    ]
    both = c.post(BLACKOUTS, json={"cidrs": ["10.0.32.9/32", "10.0.16.0/30"]})
    assert both.status_code == 200 and both.json()["blackouts"] == ["10.0.16.0/30", "10.0.32.9/32"]
    left = c.post(f"{BLACKOUTS}/remove", json={"cidrs": ["10.0.16.0/30"]})
    assert left.status_code == 200 and left.json()["blackouts"] == ["10.0.32.9/32"]
    gone = c.post(f"{BLACKOUTS}/remove", json={"cidrs": ["10.0.16.0/30"]})
    assert gone.status_code == 404
    assert "10.0.16.0/30 is not among the blackouts of network 'pods'" in gone.json()["detail"]
    bad = c.post(BLACKOUTS, json={"cidrs": ["11.0.0.0/24"]})
    assert bad.status_code == 422 and bad.json()["issues"][0]["field"] == "blackouts[0]"
    assert c.post("/v1/networks/nope/blackouts", json={"cidrs": []}).status_code == 404
    assert blackouts(c) == ["10.0.32.9/32"]
    assert c.put(BLACKOUTS, json={"cidrs": []}).status_code == 200


def test_agents_and_tenants_may_not_change_blackouts(api: Api) -> None:
    assert api.admin.post("/v1/tenants", json={"name": "own"}).status_code == 201
    for who in (
        api.user("bk-agent", "agent", host="h1"),
        api.user("bk-tenant", "tenant", tenant="own"),
    ):
        for path in (BLACKOUTS, f"{BLACKOUTS}/remove"):
            r = who.post(path, json={"cidrs": ["10.0.16.0/30"]})
            assert r.status_code == 403, r.text
    assert blackouts(api.admin) == []
    assert api.admin.delete("/v1/tenants/own").status_code == 200
