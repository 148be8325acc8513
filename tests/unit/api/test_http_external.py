"""``/v1/external-pools``, ``/v1/external-ips`` and egress NAT over a real romanad: who may do
what, the status codes, and what a refusal leaves behind."""

from __future__ import annotations

import httpx

from unit.api.conftest import Api


def _issues(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    return {i["field"] for i in response.json()["issues"]}


def _allocate(api: Api, key: str, tenant: str, host: str = "h1") -> dict[str, object]:
    created = api.admin.post("/v1/tenants", json={"name": tenant})
    assert created.status_code in (201, 409), created.text
    body = {"key": key, "host": host, "tenant": tenant}
    allocated = api.admin.post("/v1/allocations", json=body)
    assert allocated.status_code in (200, 201), allocated.text
    result: dict[str, object] = allocated.json()
    return result


def test_an_admin_creates_lists_and_deletes_a_pool(api: Api) -> None:
    c = api.admin
    body = {"cidrs": ["203.0.113.0/28", "2001:db8:e::/120"], "group": "rack-b"}
    created = c.put("/v1/external-pools/web", json=body)
    assert created.status_code == 200, created.text
    assert created.json() == {"name": "web", **body, "network": None}
    assert c.put("/v1/external-pools/web", json=body).json() == created.json()
    other = c.put("/v1/external-pools/web", json={"cidrs": ["203.0.113.0/27"]})
    assert other.status_code == 409 and "cidrs [203.0.113.0/28" in other.json()["detail"]
    assert created.json() in c.get("/v1/external-pools").json()
    assert c.get("/v1/external-pools/web").json() == created.json()
    assert c.delete("/v1/external-pools/web").json() == created.json()
    assert c.get("/v1/external-pools/web").status_code == 404


def test_bad_pools_name_their_fields_and_leave_nothing(api: Api) -> None:
    c = api.admin
    before = c.get("/v1/external-pools").json()
    assert _issues(c.put("/v1/external-pools/bad", json={"cidrs": ["10.1.0.0/16"]})) == {"cidrs[0]"}
    assert _issues(c.put("/v1/external-pools/bad", json={"cidrs": ["203.0.113.1/24"]})) == {
        "cidrs[0]"
    }
    assert _issues(c.put("/v1/external-pools/-bad", json={"cidrs": ["203.0.113.0/24"]})) == {"name"}
    assert _issues(c.put("/v1/external-pools/bad", json={"cidrs": []})) == {"cidrs"}
    missing_group = c.put("/v1/external-pools/bad", json={"cidrs": ["192.0.2.0/24"], "group": "x"})
    assert _issues(missing_group) == {"group"}
    assert _issues(c.put("/v1/external-pools/bad", json={"cidrs": ["192.0.2.0/24"], "x": 1})) == {
        "x"
    }
    assert c.get("/v1/external-pools").json() == before


def test_only_an_admin_manages_pools_and_nat(api: Api) -> None:
    _allocate(api, "ext-mgr:eth0", "ext-mgr")
    tenant = api.user("ext-mgr-user", "tenant", tenant="ext-mgr")
    service = api.user("ext-mgr-service", "service")
    agent = api.user("ext-mgr-agent", "agent", host="h1")
    for caller in (tenant, service, agent):
        calls = (
            caller.put("/v1/external-pools/mgr", json={"cidrs": ["198.51.100.0/24"]}),
            caller.get("/v1/external-pools"),
            caller.get("/v1/external-pools/mgr"),
            caller.delete("/v1/external-pools/mgr"),
            caller.get("/v1/egress-nat"),
            caller.get("/v1/networks/pods/egress-nat"),
            caller.put("/v1/networks/pods/egress-nat", json={"mode": "off"}),
        )
        assert [r.status_code for r in calls] == [403] * 7, [r.text for r in calls]
    assert api.admin.get("/v1/external-pools/mgr").status_code == 404
    assert api.admin.get("/v1/networks/pods/egress-nat").json()["mode"] == "on"


def test_a_tenant_user_assigns_only_to_its_own_endpoints(api: Api) -> None:
    c = api.admin
    assert (
        c.put("/v1/external-pools/shared", json={"cidrs": ["198.51.100.0/29"]}).status_code == 200
    )
    ours = _allocate(api, "ext-blue:eth0", "ext-blue")
    _allocate(api, "ext-red:eth0", "ext-red", host="h2")
    blue = api.user("ext-blue-user", "tenant", tenant="ext-blue")
    # Another tenant's endpoint is not found, by key and by address alike.
    refused = blue.post("/v1/external-ips", json={"pool": "shared", "endpoint": "ext-red:eth0"})
    assert refused.status_code == 404, refused.text
    assert refused.json()["detail"] == "no allocation 'ext-red:eth0'"
    red_address = c.get("/v1/allocations/ext-red:eth0").json()["addresses"][0]
    by_address = blue.post("/v1/external-ips", json={"pool": "shared", "endpoint": red_address})
    assert by_address.status_code == 404
    assert c.get("/v1/external-ips").json() == []
    # Its own: 201, then 200 for the same again.
    addresses = ours["addresses"]
    assert isinstance(addresses, list)
    body = {"pool": "shared", "endpoint": addresses[0]}
    assigned = blue.post("/v1/external-ips", json=body)
    assert assigned.status_code == 201, assigned.text
    expected = {"address": "198.51.100.1", "pool": "shared", "key": "ext-blue:eth0",
                "tenant": "ext-blue", "vip": None}  # fmt: skip
    assert assigned.json() == expected
    again = blue.post("/v1/external-ips", json={**body, "address": "198.51.100.1"})
    assert again.status_code == 200 and again.json() == expected
    red = c.post("/v1/external-ips", json={"pool": "shared", "endpoint": "ext-red:eth0"})
    assert red.status_code == 201 and red.json()["address"] == "198.51.100.2"
    # It lists, reads and unassigns its own only.
    assert blue.get("/v1/external-ips").json() == [expected]
    assert blue.get("/v1/external-ips", params={"key": "ext-red:eth0"}).json() == []
    assert len(c.get("/v1/external-ips", params={"pool": "shared"}).json()) == 2
    assert blue.get("/v1/external-ips/198.51.100.2").status_code == 404
    assert blue.delete("/v1/external-ips/198.51.100.2").status_code == 404
    assert blue.get("/v1/external-ips/198.51.100.1").json() == expected
    # Agents: test_an_agent_assigns_only_to_endpoints_living_on_its_own_host; openstack
    # users: test_http_external_openstack.py.
    # A pool with assigned addresses is not deleted.
    busy = c.delete("/v1/external-pools/shared")
    assert busy.status_code == 409 and "has 2 assigned addresses" in busy.json()["detail"]
    assert blue.delete("/v1/external-ips/198.51.100.1").json() == expected
    assert blue.delete("/v1/external-ips/198.51.100.1").status_code == 404
    # Releasing the allocation unassigns its external IP.
    assert c.delete("/v1/allocations/ext-red:eth0").status_code == 200
    assert c.get("/v1/external-ips").json() == []
    assert c.delete("/v1/external-pools/shared").status_code == 200
    assert c.delete("/v1/allocations/ext-blue:eth0").status_code == 200


def test_an_agent_assigns_only_to_endpoints_living_on_its_own_host(api: Api) -> None:
    c = api.admin
    assert (
        c.put("/v1/external-pools/hosted", json={"cidrs": ["198.51.100.8/29"]}).status_code == 200
    )
    _allocate(api, "ext-on-h1:eth0", "ext-hosted", host="h1")
    on_h2 = _allocate(api, "ext-on-h2:eth0", "ext-hosted", host="h2")
    agent = api.user("ext-agent-of-h1", "agent", host="h1")
    # Its own host's endpoint, of any tenant: 201, then 200 for the same again.
    body = {"pool": "hosted", "endpoint": "ext-on-h1:eth0"}
    assigned = agent.post("/v1/external-ips", json=body)
    assert assigned.status_code == 201, assigned.text
    mine = assigned.json()
    assert (mine["key"], mine["address"]) == ("ext-on-h1:eth0", "198.51.100.9")
    assert agent.post("/v1/external-ips", json=body).status_code == 200
    assert agent.get("/v1/external-ips/198.51.100.9").json() == mine
    # Another host's endpoint is not found, by key and by address alike, and its external
    # IP (assigned by an admin) is neither read nor unassigned.
    addresses = on_h2["addresses"]
    assert isinstance(addresses, list)
    for endpoint in ("ext-on-h2:eth0", addresses[0]):
        refused = agent.post("/v1/external-ips", json={"pool": "hosted", "endpoint": endpoint})
        assert refused.status_code == 404, refused.text
    theirs = c.post("/v1/external-ips", json={"pool": "hosted", "endpoint": "ext-on-h2:eth0"})
    assert theirs.status_code == 201, theirs.text
    other = theirs.json()["address"]
    assert agent.get(f"/v1/external-ips/{other}").status_code == 404
    assert agent.delete(f"/v1/external-ips/{other}").status_code == 404
    assert c.get(f"/v1/external-ips/{other}").json() == theirs.json()
    # It lists none, and unassigns its own host's.
    assert agent.get("/v1/external-ips").status_code == 403
    assert agent.delete("/v1/external-ips/198.51.100.9").json() == mine
    assert [ip["address"] for ip in c.get("/v1/external-ips").json()] == [other]
    assert c.delete("/v1/allocations/ext-on-h2:eth0").status_code == 200
    assert c.delete("/v1/allocations/ext-on-h1:eth0").status_code == 200
    assert c.delete("/v1/external-pools/hosted").status_code == 200


def test_bad_assignments_name_their_field_and_leave_nothing(api: Api) -> None:
    c = api.admin
    assert c.put("/v1/external-pools/edge", json={"cidrs": ["192.0.2.128/29"]}).status_code == 200
    _allocate(api, "ext-bad:eth0", "ext-bad")
    body = {"pool": "edge", "endpoint": "ext-bad:eth0"}
    assert _issues(c.post("/v1/external-ips", json={**body, "address": "192.0.2.128"})) == {
        "address"
    }
    assert _issues(c.post("/v1/external-ips", json={**body, "address": "nope"})) == {"address"}
    assert _issues(c.post("/v1/external-ips", json={**body, "address": "2001:db8::1"})) == {
        "address"
    }
    assert _issues(c.post("/v1/external-ips", json={**body, "pool": "-x"})) == {"pool"}
    assert c.post("/v1/external-ips", json={**body, "pool": "none"}).status_code == 404
    assert c.get("/v1/external-ips").json() == []
    assert c.get("/v1/external-ips/nope").status_code == 422
    assert c.delete("/v1/external-pools/edge").status_code == 200
    assert c.delete("/v1/allocations/ext-bad:eth0").status_code == 200


def test_egress_nat_is_on_until_set_and_set_checks_its_fields(api: Api) -> None:
    c = api.admin
    assert c.get("/v1/egress-nat").json() == [
        {"network": "pods", "mode": "on", "tenants": [], "no_nat": []}
    ]
    _allocate(api, "ext-nat:eth0", "ext-nat")
    body = {"mode": "tenants", "tenants": ["ext-nat"], "no_nat": ["172.16.0.0/12"]}
    setting = c.put("/v1/networks/pods/egress-nat", json=body)
    assert setting.status_code == 200, setting.text
    assert setting.json() == {"network": "pods", **body}
    assert c.get("/v1/networks/pods/egress-nat").json() == setting.json()
    assert c.get("/v1/egress-nat").json() == [setting.json()]
    bad = {"mode": "tenants", "tenants": ["ghost"], "no_nat": ["172.16.0.1/12"]}
    assert _issues(c.put("/v1/networks/pods/egress-nat", json=bad)) == {"no_nat[0]"}
    ghost = c.put("/v1/networks/pods/egress-nat", json={**bad, "no_nat": []})
    assert _issues(ghost) == {"tenants[0]"}
    assert _issues(c.put("/v1/networks/pods/egress-nat", json={"mode": "sometimes"})) == {"mode"}
    assert _issues(c.put("/v1/networks/pods/egress-nat", json={"mode": "tenants"})) == {"tenants"}
    assert c.put("/v1/networks/nope/egress-nat", json={"mode": "off"}).status_code == 404
    assert c.get("/v1/networks/nope/egress-nat").status_code == 404
    assert c.get("/v1/networks/pods/egress-nat").json() == setting.json()
    on = c.put("/v1/networks/pods/egress-nat", json={"mode": "on"})
    assert on.json() == {"network": "pods", "mode": "on", "tenants": [], "no_nat": []}
    assert c.delete("/v1/allocations/ext-nat:eth0").status_code == 200
