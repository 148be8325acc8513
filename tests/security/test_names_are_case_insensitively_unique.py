"""Names are unique ignoring case; lookups stay exact.

Issue 12, Low point "names": ``TA`` and ``ta``, ``H1`` and ``h1`` could coexist, two objects
a reader takes for one. Now a tenant, a segment of a tenant, a host, a user, or a sibling
group of a topology document whose name equals an existing one but for case is refused
(409 naming the one that exists; 422 within one document), the first spelling is kept, and
a lookup in another spelling is 404 (for hosts, saying which spelling exists). An agent user
bound to a host name that an existing host has but for case is refused (422 on ``host``).

A real romanad over SQLite; the services' own check is also raced in one store.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from romana.core.errors import AlreadyExists
from romana.core.identifiers import TenantName
from romana.services.auth import AuthService
from romana.services.tenants import TenantService
from romana.services.topology import TopologyService
from romana.store.sqlite import SQLiteStore
from unit.api.conftest import TOPOLOGY, Api, start


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    daemon = start(tmp_path_factory.mktemp("names"))
    try:
        yield Api(daemon)
    finally:
        daemon.stop()


def _refused(response: object, status: int, *words: str) -> None:
    r = response
    assert getattr(r, "status_code", None) == status, getattr(r, "text", r)
    detail = r.json()["detail"]  # type: ignore[attr-defined]
    for word in words:
        assert word in detail, detail


def test_tenants_differing_in_case_are_one_name(api: Api) -> None:
    assert api.admin.post("/v1/tenants", json={"name": "TA"}).status_code == 201
    _refused(api.admin.post("/v1/tenants", json={"name": "ta"}), 409, "tenant 'TA'")
    _refused(api.admin.post("/v1/tenants", json={"name": "Ta"}), 409, "tenant 'TA'")
    assert api.admin.get("/v1/tenants/TA").json()["name"] == "TA"
    assert api.admin.get("/v1/tenants/ta").status_code == 404
    assert [t["name"] for t in api.admin.get("/v1/tenants").json()].count("TA") == 1


def test_segments_differing_in_case_are_one_name(api: Api) -> None:
    api.admin.post("/v1/tenants", json={"name": "seg-case"})
    added = api.admin.post("/v1/tenants/seg-case/segments", json={"name": "Web"})
    assert added.status_code == 201, added.text
    again = api.admin.post("/v1/tenants/seg-case/segments", json={"name": "web"})
    _refused(again, 409, "segment 'Web'")
    _refused(api.admin.post("/v1/tenants/seg-case/segments", json={"name": "DEFAULT"}), 409)
    assert set(api.admin.get("/v1/tenants/seg-case").json()["segments"]) == {"default", "Web"}


def test_hosts_differing_in_case_are_one_name(api: Api) -> None:
    h1 = {"name": "H1", "ip": "192.0.2.11", "labels": {"rack": "a"}}
    assert api.admin.post("/v1/hosts", json=h1).status_code == 201
    other = {"name": "h1", "ip": "192.0.2.12", "labels": {"rack": "a"}}
    _refused(api.admin.post("/v1/hosts", json=other), 409, "host 'H1'")
    _refused(api.admin.get("/v1/hosts/h1"), 404, "host 'h1' does not exist", "'H1' does")
    assert api.admin.get("/v1/hosts/H1").json()["ip"] == "192.0.2.11"


def test_users_differing_in_case_are_one_name(api: Api) -> None:
    user = {"username": "Alice", "password": "alice-password", "role": "service"}
    assert api.admin.post("/v1/users", json=user).status_code == 201
    _refused(api.admin.post("/v1/users", json=user | {"username": "alice"}), 409, "user 'Alice'")
    reserved = api.admin.post("/v1/users", json=user | {"username": "ROMANAD"})
    assert reserved.status_code == 422, reserved.text
    assert reserved.json()["issues"][0]["field"] == "username"
    assert api.daemon.login("Alice", "alice-password")


def test_an_agent_user_is_bound_to_a_hosts_own_spelling(api: Api) -> None:
    host = {"name": "Node7", "ip": "192.0.2.77", "labels": {"rack": "b"}}
    assert api.admin.post("/v1/hosts", json=host).status_code == 201
    agent = {"username": "agent-node7", "password": "agent-node7-pw", "role": "agent"}
    r = api.admin.post("/v1/users", json=agent | {"host": "node7"})
    assert r.status_code == 422, r.text
    [issue] = r.json()["issues"]
    assert issue["field"] == "host" and "host 'Node7' does" in issue["rule"], issue
    assert "agent-node7" not in [u["username"] for u in api.admin.get("/v1/users").json()]
    # The host's own spelling, and a host not registered yet, are bound as given.
    assert api.admin.post("/v1/users", json=agent | {"host": "Node7"}).status_code == 201
    later = agent | {"username": "agent-node8", "host": "node8"}
    assert api.admin.post("/v1/users", json=later).status_code == 201


def test_a_document_with_hosts_or_groups_differing_in_case_is_refused(api: Api) -> None:
    before = api.admin.get("/v1/topology").json()
    hosts: dict[str, Any] = {"name": "r", "groups": [{"name": "H9", "ip": "192.0.2.91"}]}
    hosts["groups"].append({"name": "h9", "ip": "192.0.2.92"})
    doc = {"networks": TOPOLOGY["networks"], "topologies": [{"networks": ["pods"], "map": [hosts]}]}
    r = api.admin.put("/v1/topology", json=doc)
    assert r.status_code == 422, r.text
    assert any("only in case" in i["rule"] for i in r.json()["issues"]), r.text
    groups = [{"name": "Rack", "groups": []}, {"name": "rack", "groups": []}]
    doc["topologies"] = [{"networks": ["pods"], "map": groups}]
    r = api.admin.put("/v1/topology", json=doc)
    assert r.status_code == 422, r.text
    assert any("names ignore case" in i["rule"] for i in r.json()["issues"]), r.text
    assert api.admin.get("/v1/topology").json() == before


@pytest.mark.parametrize("kind", ["tenant", "user"])
def test_concurrent_spellings_create_exactly_one(tmp_path: Path, kind: str) -> None:
    """The check is part of the creating transaction: racing spellings leave one object."""
    store = SQLiteStore(tmp_path / "r.db")
    try:
        topology = TopologyService(store)
        topology.apply(TOPOLOGY)
        tenants, users = TenantService(store, topology), AuthService(store)
        spellings = ["racer", "RACER", "Racer", "rAcEr", "raCer", "RAcer"]
        outcomes: list[str] = []
        barrier = threading.Barrier(len(spellings))

        def create(name: str) -> None:
            barrier.wait()
            try:
                if kind == "tenant":
                    tenants.create(TenantName(name))
                else:
                    users.create_user(name, "a-password", "service")
                outcomes.append("created")
            except AlreadyExists:
                outcomes.append("exists")

        threads = [threading.Thread(target=create, args=(s,)) for s in spellings]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["created"] + ["exists"] * (len(spellings) - 1)
        made = tenants.list_all() if kind == "tenant" else users.list_users()
        found = [getattr(x, "name", getattr(x, "username", "")) for x in made]
        assert sum(n.casefold() == "racer" for n in found) == 1
    finally:
        store.close()
