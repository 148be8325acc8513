"""``PUT /v1/allocations/{key}/workload``: what holds an allocation, said by its host's agent
or an admin, shown by every read of it, over a real romanad process."""

from __future__ import annotations

from unit.api.conftest import Api

CONTAINER = "docker:" + "3f1c2a" * 10 + "abcd"


def test_the_hosts_agent_labels_its_allocation_and_every_read_shows_it(api: Api) -> None:
    c = api.admin
    assert c.post("/v1/tenants", json={"name": "held"}).status_code == 201
    body = {"key": "docker-1:rdk1", "host": "h1", "tenant": "held"}
    alloc = c.post("/v1/allocations", json=body).json()
    assert alloc["workload"] is None
    agent = api.user("agent-h1", "agent", host="h1")
    path = "/v1/allocations/docker-1:rdk1/workload"
    labelled = agent.put(path, json={"workload": CONTAINER})
    assert labelled.status_code == 200, labelled.text
    assert labelled.json() == {**alloc, "workload": CONTAINER}
    assert agent.put(path, json={"workload": CONTAINER}).json() == labelled.json()
    assert c.get("/v1/allocations/docker-1:rdk1").json()["workload"] == CONTAINER
    listed = c.get("/v1/allocations", params={"host": "h1"}).json()
    assert [a["workload"] for a in listed if a["key"] == "docker-1:rdk1"] == [CONTAINER]
    addr = alloc["addresses"][0]
    assert c.get(f"/v1/decode/{addr}").json()["allocation"]["workload"] == CONTAINER
    admin_says = c.put(path, json={"workload": "vm:nova-1"})
    assert admin_says.status_code == 200 and admin_says.json()["workload"] == "vm:nova-1"
    assert c.delete("/v1/allocations/docker-1:rdk1").json()["workload"] == "vm:nova-1"
    assert agent.put(path, json={"workload": CONTAINER}).status_code == 404


def test_an_agent_of_another_host_may_not_label_nor_learn_of_it(api: Api) -> None:
    c = api.admin
    assert c.post("/v1/tenants", json={"name": "elsewhere"}).status_code == 201
    body = {"key": "docker-2:rdk2", "host": "h1", "tenant": "elsewhere"}
    assert c.post("/v1/allocations", json=body).status_code == 201
    other = api.user("agent-h2", "agent", host="h2")
    path = "/v1/allocations/docker-2:rdk2/workload"
    refused = other.put(path, json={"workload": CONTAINER})
    assert refused.status_code == 404, refused.text
    assert refused.json()["detail"] == "no allocation with key 'docker-2:rdk2'"
    assert c.get("/v1/allocations/docker-2:rdk2").json()["workload"] is None


def test_a_workload_breaking_the_rule_is_refused_naming_it(api: Api) -> None:
    c = api.admin
    assert c.post("/v1/tenants", json={"name": "strict"}).status_code == 201
    body = {"key": "docker-3:rdk3", "host": "h1", "tenant": "strict"}
    assert c.post("/v1/allocations", json=body).status_code == 201
    path = "/v1/allocations/docker-3:rdk3/workload"
    for bad in ("", "x" * 257, "line\nbreak"):
        refused = c.put(path, json={"workload": bad})
        assert refused.status_code == 422, refused.text
        assert [i["field"] for i in refused.json()["issues"]] == ["workload"]
    assert c.put(path, json={"workload": CONTAINER, "extra": 1}).status_code == 422
    assert c.get("/v1/allocations/docker-3:rdk3").json()["workload"] is None
