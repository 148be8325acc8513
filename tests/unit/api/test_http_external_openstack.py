"""``/v1/external-ips`` for an ``openstack`` user over a real romanad: Neutron's drivers assign
external IPs only to allocations of the tenants they own (the tenant's recorded owner), and
another tenant's endpoint or external IP is answered as a missing one."""

from __future__ import annotations

from unit.api.conftest import Api


def test_an_openstack_user_assigns_only_to_the_tenants_it_owns(api: Api) -> None:
    c = api.admin
    pool = c.put("/v1/external-pools/os-public", json={"cidrs": ["198.51.100.64/29"]})
    assert pool.status_code == 200, pool.text
    neutron = api.user("ext-os-neutron", "openstack")
    # A tenant the drivers created is theirs; one an admin created is not.
    created = neutron.post("/v1/tenants", json={"name": "os-ext-own", "external_id": "p-own"})
    assert created.status_code == 201, created.text
    assert c.post("/v1/tenants", json={"name": "ext-other"}).status_code == 201
    for key, tenant in (("os-own:tap0", "os-ext-own"), ("other:eth0", "ext-other")):
        body = {"key": key, "host": "h1", "tenant": tenant}
        allocated = c.post("/v1/allocations", json=body)
        assert allocated.status_code == 201, allocated.text
    other = c.post("/v1/external-ips", json={"pool": "os-public", "endpoint": "other:eth0"})
    assert other.status_code == 201, other.text
    taken = other.json()["address"]

    # Its own tenant's allocation: assigned (201), the same again 200, listed, read.
    body = {"pool": "os-public", "endpoint": "os-own:tap0"}
    assigned = neutron.post("/v1/external-ips", json=body)
    assert assigned.status_code == 201, assigned.text
    mine = assigned.json()
    assert (mine["key"], mine["tenant"], mine["pool"]) == ("os-own:tap0", "os-ext-own", "os-public")
    assert neutron.post("/v1/external-ips", json=body).status_code == 200
    assert neutron.get("/v1/external-ips").json() == [mine]
    assert neutron.get("/v1/external-ips", params={"key": "os-own:tap0"}).json() == [mine]
    assert neutron.get(f"/v1/external-ips/{mine['address']}").json() == mine

    # Another tenant's: not found, whether it assigns, reads, lists or unassigns.
    refused = neutron.post("/v1/external-ips", json={"pool": "os-public", "endpoint": "other:eth0"})
    assert refused.status_code == 404, refused.text
    assert refused.json()["detail"] == "no allocation 'other:eth0'"
    assert neutron.get("/v1/external-ips", params={"key": "other:eth0"}).json() == []
    assert neutron.get(f"/v1/external-ips/{taken}").status_code == 404
    assert neutron.delete(f"/v1/external-ips/{taken}").status_code == 404
    assert c.get(f"/v1/external-ips/{taken}").json()["key"] == "other:eth0"
    # The pools stay an admin's.
    assert neutron.get("/v1/external-pools").status_code == 403
    assert neutron.put("/v1/external-pools/x", json={"cidrs": ["192.0.2.0/24"]}).status_code == 403

    # Unassigning its own.
    assert neutron.delete(f"/v1/external-ips/{mine['address']}").json() == mine
    assert neutron.get("/v1/external-ips").json() == []
    for key in ("os-own:tap0", "other:eth0"):
        assert c.delete(f"/v1/allocations/{key}").status_code == 200
    assert c.delete("/v1/external-pools/os-public").status_code == 200
