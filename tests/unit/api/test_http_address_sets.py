"""Address sets over HTTP: canonical members, who may read and write, and the agents' view."""

from __future__ import annotations

import threading
import time
from typing import Any

from unit.api.conftest import Api


def test_put_get_list_and_delete_a_set(api: Api) -> None:
    put = api.admin.put(
        "/v1/address-sets/kube.web",
        json={"members": ["10.1.17.9", "10.1.17.2/32", "2001:db8::1", "10.1.17.9/32"]},
    )
    assert put.status_code == 200, put.text
    want = {"name": "kube.web", "members": ["10.1.17.2/32", "10.1.17.9/32", "2001:db8::1/128"]}
    assert put.json() == want
    assert api.admin.get("/v1/address-sets/kube.web").json() == want
    assert want in api.admin.get("/v1/address-sets").json()

    emptied = api.admin.put("/v1/address-sets/kube.web", json={"members": []})
    assert emptied.json() == {"name": "kube.web", "members": []}
    gone = api.admin.delete("/v1/address-sets/kube.web")
    assert gone.status_code == 200 and gone.json()["members"] == []
    missing = api.admin.get("/v1/address-sets/kube.web")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert api.admin.delete("/v1/address-sets/kube.web").status_code == 404


def test_every_problem_is_named_and_nothing_is_stored(api: Api) -> None:
    bad = api.admin.put(
        "/v1/address-sets/-bad", json={"members": ["10.1.17.1/24", "10.1.17.2/32", "nope"]}
    )
    assert bad.status_code == 422
    fields = {i["field"] for i in bad.json()["issues"]}
    assert fields == {"name", "members[0]", "members[2]"}
    assert api.admin.get("/v1/address-sets/-bad").status_code == 404
    unknown_field = api.admin.put("/v1/address-sets/x", json={"member": []})
    assert unknown_field.status_code == 422


def test_only_admin_and_service_write_sets_agents_get_them_in_the_host_view(api: Api) -> None:
    assert api.admin.put("/v1/address-sets/kube.auth", json={"members": []}).status_code == 200
    agent = api.user("agent-sets", "agent", host="h1")
    assert agent.get("/v1/address-sets/kube.auth").status_code == 403
    assert agent.get("/v1/address-sets").status_code == 403
    assert agent.put("/v1/address-sets/kube.auth", json={"members": []}).status_code == 403
    assert agent.delete("/v1/address-sets/kube.auth").status_code == 403
    service = api.user("service-sets", "service")
    assert service.put("/v1/address-sets/kube.auth", json={"members": ["10.1.1.1"]}).is_success
    tenant = api.user("tenant-sets", "tenant", tenant="sets")
    assert tenant.get("/v1/address-sets").status_code == 403
    assert tenant.put("/v1/address-sets/kube.auth", json={"members": []}).status_code == 403
    assert api.client().get("/v1/address-sets").status_code == 401
    assert api.admin.delete("/v1/address-sets/kube.auth").is_success


def _poll(client: Any, after: int, out: dict[str, Any], wait: float = 20) -> None:
    started = time.monotonic()
    response = client.get("/v1/hosts/h1/view", params={"after": after, "wait": wait})
    out["elapsed"] = time.monotonic() - started
    out["view"] = response.json()


def test_the_host_view_carries_sets_and_a_member_change_wakes_it(api: Api) -> None:
    agent = api.user("agent-view-sets", "agent", host="h1")
    # A view carries the sets its policies name; this one is in every view (no one tenant's).
    uses = {
        "name": "view-sets-db",
        "applied_to": [{"address_set": "kube.db"}],
        "ingress": [{"peers": [{"peer": "any"}], "rules": [{"protocol": "tcp", "ports": [5432]}]}],
    }
    assert api.admin.post("/v1/policies", json=uses).is_success
    assert api.admin.put("/v1/address-sets/kube.db", json={"members": ["10.1.17.3"]}).is_success
    view = agent.get("/v1/hosts/h1/view").json()
    assert view["address_sets"]["kube.db"] == ["10.1.17.3/32"]

    out: dict[str, Any] = {}
    thread = threading.Thread(target=_poll, args=(agent, view["revision"], out))
    thread.start()
    time.sleep(0.3)
    api.admin.put("/v1/address-sets/kube.db", json={"members": ["10.1.17.3", "10.1.17.4"]})
    thread.join()
    assert out["elapsed"] < 5
    assert out["view"]["address_sets"]["kube.db"] == ["10.1.17.3/32", "10.1.17.4/32"]

    # Putting the same members again writes nothing, so it wakes nobody.
    thread = threading.Thread(target=_poll, args=(agent, out["view"]["revision"], out, 1.5))
    thread.start()
    time.sleep(0.3)
    api.admin.put("/v1/address-sets/kube.db", json={"members": ["10.1.17.4/32", "10.1.17.3"]})
    thread.join()
    assert out["elapsed"] >= 1.4
    api.admin.delete("/v1/address-sets/kube.db")
    api.admin.delete("/v1/policies/view-sets-db")
