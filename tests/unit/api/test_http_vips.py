"""``/v1/vips`` over a real romanad: who may manage VIPs and lease them, the status codes,
the answers, and what a refusal leaves behind."""

from __future__ import annotations

import httpx

from unit.api.conftest import Api


def _issues(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    return {i["field"] for i in response.json()["issues"]}


def _allocate(api: Api, key: str, tenant: str, host: str) -> str:
    created = api.admin.post("/v1/tenants", json={"name": tenant})
    assert created.status_code in (201, 409), created.text
    body = {"key": key, "host": host, "tenant": tenant}
    allocated = api.admin.post("/v1/allocations", json=body)
    assert allocated.status_code in (200, 201), allocated.text
    address: str = allocated.json()["addresses"][0]
    return address


def test_a_vip_from_create_to_delete_and_its_leases(api: Api) -> None:
    c = api.admin
    assert c.put("/v1/external-pools/lb", json={"cidrs": ["198.51.100.0/29"]}).status_code == 200
    _allocate(api, "vip-a:eth0", "vip-web", "h1")
    b_address = _allocate(api, "vip-b:eth0", "vip-web", "h2")
    try:
        body = {"name": "web", "pool": "lb", "endpoints": ["vip-a:eth0", b_address]}
        created = c.post("/v1/vips", json=body)
        assert created.status_code == 201, created.text
        vip = {"name": "web", "address": "198.51.100.1", "pool": "lb",
               "endpoints": ["vip-a:eth0", "vip-b:eth0"], "holder": None}  # fmt: skip
        assert created.json() == vip
        again = c.post("/v1/vips", json={**body, "address": "198.51.100.1"})
        assert again.status_code == 200 and again.json() == vip
        other = c.post("/v1/vips", json={**body, "endpoints": ["vip-a:eth0"]})
        assert other.status_code == 409 and "endpoints [vip-a:eth0, vip-b:eth0]" in other.text
        # Its address is taken for external IPs, and shown as the VIP's.
        reserved = c.get("/v1/external-ips/198.51.100.1").json()
        assert reserved == {"address": "198.51.100.1", "pool": "lb", "key": "", "tenant": "",
                            "vip": "web"}  # fmt: skip
        assert _issues(c.delete("/v1/external-ips/198.51.100.1")) == {"address"}

        # Each agent leases as its own host only; the first asking gets it.
        agent1 = api.user("vip-agent-h1", "agent", host="h1")
        agent2 = api.user("vip-agent-h2", "agent", host="h2")
        as_other = agent2.post("/v1/vips/web/lease", json={"host": "h1"})
        assert as_other.status_code == 403 and "bound to host 'h2'" in as_other.text
        held = agent1.post("/v1/vips/web/lease", json={"host": "h1"})
        assert held.status_code == 200, held.text
        answer = held.json()
        assert (answer["vip"], answer["held"], answer["holder"], answer["term"]) == (
            "web", True, "h1", 1
        )  # fmt: skip
        assert answer["ttl"] > 0 and 0 < answer["expires_in"] <= answer["ttl"]
        refused = agent2.post("/v1/vips/web/lease", json={"host": "h2"}).json()
        assert (refused["held"], refused["holder"]) == (False, "h1")
        assert c.get("/v1/vips/web").json()["holder"] == "h1"
        assert [v["holder"] for v in c.get("/v1/vips").json() if v["name"] == "web"] == ["h1"]
        # Giving it up hands it over at once.
        released = agent1.post("/v1/vips/web/lease", json={"host": "h1", "release": True})
        assert (released.json()["held"], released.json()["holder"]) == (False, None)
        taken = agent2.post("/v1/vips/web/lease", json={"host": "h2"}).json()
        assert (taken["held"], taken["holder"], taken["term"]) == (True, "h2", 2)

        moved = c.put("/v1/vips/web/endpoints", json={"endpoints": ["vip-a:eth0"]})
        assert moved.status_code == 200 and moved.json()["endpoints"] == ["vip-a:eth0"]
        assert c.post("/v1/vips/nope/lease", json={"host": "h1"}).status_code == 404
        assert c.post("/v1/vips/web/lease", json={"host": "h9"}).status_code == 404
        deleted = c.delete("/v1/vips/web")
        assert deleted.status_code == 200 and deleted.json()["address"] == "198.51.100.1"
        assert c.get("/v1/vips/web").status_code == 404
        assert c.get("/v1/external-ips/198.51.100.1").status_code == 404
    finally:
        c.delete("/v1/vips/web")
        assert c.delete("/v1/allocations/vip-a:eth0").status_code == 200
        assert c.delete("/v1/allocations/vip-b:eth0").status_code == 200
        assert c.delete("/v1/external-pools/lb").status_code == 200


def test_only_admins_and_services_manage_vips(api: Api) -> None:
    c = api.admin
    assert c.put("/v1/external-pools/svc", json={"cidrs": ["198.51.100.8/29"]}).status_code == 200
    _allocate(api, "vip-svc:eth0", "vip-svc", "h1")
    tenant = api.user("vip-tenant-user", "tenant", tenant="vip-svc")
    agent = api.user("vip-agent-only", "agent", host="h1")
    neutron = api.user("vip-neutron", "openstack")
    service = api.user("vip-kube", "service")
    body = {"name": "svc", "pool": "svc", "endpoints": ["vip-svc:eth0"]}
    try:
        for caller in (tenant, agent, neutron):
            calls = (
                caller.post("/v1/vips", json=body),
                caller.get("/v1/vips"),
                caller.get("/v1/vips/svc"),
                caller.put("/v1/vips/svc/endpoints", json={"endpoints": []}),
                caller.delete("/v1/vips/svc"),
            )
            assert [r.status_code for r in calls] == [403] * 5, [r.text for r in calls]
        assert c.get("/v1/vips/svc").status_code == 404
        created = service.post("/v1/vips", json=body)
        assert created.status_code == 201, created.text
        assert service.get("/v1/vips/svc").json() == created.json()
        # Leases are for agents (as their host) and admins only.
        for caller in (tenant, neutron, service):
            leased = caller.post("/v1/vips/svc/lease", json={"host": "h1"})
            assert leased.status_code == 403, leased.text
        assert c.post("/v1/vips/svc/lease", json={"host": "h1"}).json()["held"] is True
        assert service.delete("/v1/vips/svc").status_code == 200
    finally:
        c.delete("/v1/vips/svc")
        assert c.delete("/v1/allocations/vip-svc:eth0").status_code == 200
        assert c.delete("/v1/external-pools/svc").status_code == 200


def test_bad_vips_name_their_field_and_leave_nothing(api: Api) -> None:
    c = api.admin
    assert c.put("/v1/external-pools/bad", json={"cidrs": ["198.51.100.16/29"]}).status_code == 200
    _allocate(api, "vip-bad:eth0", "vip-bad", "h1")
    body = {"name": "bad", "pool": "bad", "endpoints": ["vip-bad:eth0"]}
    try:
        assert _issues(c.post("/v1/vips", json={**body, "name": "-x"})) == {"name"}
        assert _issues(c.post("/v1/vips", json={**body, "address": "198.51.100.23"})) == {"address"}
        assert _issues(c.post("/v1/vips", json={**body, "address": "192.0.2.1"})) == {"address"}
        assert _issues(c.post("/v1/vips", json={**body, "endpoints": ["vip-bad:eth0", "-y"]})) == {
            "endpoints[1]"
        }
        missing = c.post("/v1/vips", json={**body, "endpoints": ["vip-bad:eth0", "nope:eth0"]})
        assert missing.status_code == 404 and "endpoints[1]" in missing.json()["detail"]
        assert c.post("/v1/vips", json={**body, "pool": "none"}).status_code == 404
        assert _issues(c.post("/v1/vips", json={**body, "extra": 1})) == {"extra"}
        assert c.get("/v1/vips").json() == []
        assert c.get("/v1/external-ips", params={"pool": "bad"}).json() == []
    finally:
        assert c.delete("/v1/allocations/vip-bad:eth0").status_code == 200
        assert c.delete("/v1/external-pools/bad").status_code == 200
