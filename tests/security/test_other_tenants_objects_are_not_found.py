"""Another tenant's object answers 404, never 403.

Issue 12, Low point "authorize before lookup": a tenant user got 403 for another tenant's
allocation key, address, policy id or tenant name and 404 for a missing one, so it could
probe which exist. Now routes that fetch an object by id, key, address or name answer a
tenant user 404, with the body a missing object gets, when the object is another tenant's.

A real romanad over SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from romana.lab.romanad import Romanad
from support.romanad import AdminCalls
from unit.api.conftest import start


class Deployment(AdminCalls):
    def __init__(self, daemon: Romanad) -> None:
        super().__init__(daemon)


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployment, str, str]]:
    with start(tmp_path_factory.mktemp("notfound")) as daemon:
        dep = Deployment(daemon)
        dep.ok("POST", "/v1/hosts", {"name": "h1", "ip": "192.0.2.1", "labels": {"rack": "a"}})
        for t in ("mine", "theirs"):
            dep.ok("POST", "/v1/tenants", {"name": t})
        user = {"username": "me", "password": "me-password", "role": "tenant", "tenant": "mine"}
        dep.ok("POST", "/v1/users", user)
        alloc = dep.ok(
            "POST", "/v1/allocations", {"key": "their-pod", "host": "h1", "tenant": "theirs"}
        )
        policy = {
            "name": "their-policy",
            "direction": "ingress",
            "applied_to": [{"tenant": "theirs"}],
            "ingress": [{"peers": [{"tenant": "theirs"}], "rules": [{"protocol": "tcp"}]}],
        }
        added = dep.ok("POST", "/v1/policies", policy)
        pid = str(added[0].get("id", added[0]["name"]))
        yield dep, daemon.login("me", "me-password"), f"{alloc['addresses'][0]}|{pid}"


def _same_as_missing(d: Deployment, token: str, method: str, theirs: str, missing: str) -> None:
    """``theirs`` (another tenant's) answers exactly as ``missing`` (nothing there) does,
    but for the name in the message."""
    a, b = d.call(token, method, theirs), d.call(token, method, missing)
    assert a.status_code == b.status_code == 404, (a.text, b.text)
    assert a.json()["title"] == b.json()["title"]


def test_another_tenants_objects_are_not_found(d: tuple[Deployment, str, str]) -> None:
    dep, me, refs = d
    address, pid = refs.split("|")
    _same_as_missing(dep, me, "GET", "/v1/allocations/their-pod", "/v1/allocations/nothing")
    _same_as_missing(dep, me, "DELETE", "/v1/allocations/their-pod", "/v1/allocations/nothing")
    _same_as_missing(dep, me, "DELETE", f"/v1/addresses/{address}", "/v1/addresses/10.255.0.9")
    _same_as_missing(dep, me, "GET", f"/v1/policies/{pid}", "/v1/policies/nothing")
    _same_as_missing(dep, me, "DELETE", f"/v1/policies/{pid}", "/v1/policies/nothing")
    _same_as_missing(dep, me, "GET", "/v1/tenants/theirs", "/v1/tenants/nothing")
    r = dep.call(me, "GET", "/v1/tenants/theirs")
    assert r.json()["detail"] == "tenant 'theirs' does not exist"
    # Nothing was released or removed, and the owner's view is unchanged.
    assert dep.call(dep.admin, "GET", "/v1/allocations/their-pod").status_code == 200
    assert dep.call(dep.admin, "GET", f"/v1/policies/{pid}").status_code == 200


def test_own_objects_still_answer(d: tuple[Deployment, str, str]) -> None:
    dep, me, _ = d
    assert dep.call(me, "GET", "/v1/tenants/mine").status_code == 200
    mine = {"key": "my-pod", "host": "h1", "tenant": "mine"}
    assert dep.call(me, "POST", "/v1/allocations", mine).status_code == 201
    assert dep.call(me, "GET", "/v1/allocations/my-pod").status_code == 200
    assert dep.call(me, "DELETE", "/v1/allocations/my-pod").status_code == 200
