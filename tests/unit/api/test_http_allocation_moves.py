"""``PUT /v1/allocations/{key}/host``: who may move an allocation, and what decode and the
route plans say about it, over a real romanad process."""

from __future__ import annotations

from unit.api.conftest import Api


def _exceptions(api: Api, host: str) -> list[dict[str, object]]:
    routes = api.admin.get(f"/v1/hosts/{host}/routes").json()["routes"]
    return [r for r in routes if r["moved_from"] is not None]


def test_move_decode_routes_and_move_home(api: Api) -> None:
    c = api.admin
    assert c.post("/v1/tenants", json={"name": "mover"}).status_code == 201
    body = {"key": "vm-a", "host": "h1", "tenant": "mover"}
    alloc = c.post("/v1/allocations", json=body).json()
    addr = alloc["addresses"][0]
    moved = c.put("/v1/allocations/vm-a/host", json={"host": "h2"})
    assert moved.status_code == 200, moved.text
    assert moved.json() == {**alloc, "host": "h2", "origin": "h1"}
    assert c.put("/v1/allocations/vm-a/host", json={"host": "h2"}).json() == moved.json()
    decoded = c.get(f"/v1/decode/{addr}").json()
    assert (decoded["host"], decoded["lives_on"]) == ("h1", "h2")
    assert _exceptions(api, "h1") == [
        {
            "dst": f"{addr}/32",
            "via": "192.0.2.2",
            "reason": "moved from host h1 to host h2",
            "moved_from": "h1",
            "pool": None,
        }
    ]
    plan = c.get("/v1/hosts/h2/routes").json()
    assert plan["moved_here"] == [addr]
    assert _exceptions(api, "h2") == []
    view = c.get("/v1/hosts/h1/view").json()
    assert [r["dst"] for r in view["routes"] if r["moved_from"]] == [f"{addr}/32"]
    home = c.put("/v1/allocations/vm-a/host", json={"host": "h1"})
    assert home.json() == {**alloc, "origin": None}
    assert c.get(f"/v1/decode/{addr}").json()["lives_on"] is None
    assert _exceptions(api, "h1") == []
    c.put("/v1/allocations/vm-a/host", json={"host": "h2"})
    assert c.delete("/v1/allocations/vm-a").status_code == 200
    assert _exceptions(api, "h1") == []


def test_only_admin_and_service_users_may_move(api: Api) -> None:
    c = api.admin
    assert c.post("/v1/tenants", json={"name": "guarded"}).status_code == 201
    body = {"key": "vm-b", "host": "h1", "tenant": "guarded"}
    assert c.post("/v1/allocations", json=body).status_code == 201
    tenant = api.user("guarded-user", "tenant", tenant="guarded")
    agent = api.user("agent-h2", "agent", host="h2")
    service = api.user("nova-neutron", "service")
    for caller in (tenant, agent):
        refused = caller.put("/v1/allocations/vm-b/host", json={"host": "h2"})
        assert refused.status_code == 403, refused.text
        assert "move-allocation" in refused.json()["detail"]
    assert c.get("/v1/allocations/vm-b").json()["host"] == "h1"
    moved = service.put("/v1/allocations/vm-b/host", json={"host": "h2"})
    assert moved.status_code == 200 and moved.json()["origin"] == "h1"
    missing = service.put("/v1/allocations/nope/host", json={"host": "h2"})
    assert missing.status_code == 404
    unknown = service.put("/v1/allocations/vm-b/host", json={"host": "h9"})
    assert unknown.status_code == 404 and "h9" in unknown.json()["detail"]
    bad = service.put("/v1/allocations/vm-b/host", json={"host": "h2", "extra": 1})
    assert bad.status_code == 422
