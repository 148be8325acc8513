"""Policy ids are namespaced per tenant: one tenant can no longer take an id another needs.

Issue 12, point 8: a policy's id was its name, unique across the whole cluster, so tenant A
posting ``allow-web`` first made tenant B's ``allow-web`` fail with AlreadyExists (and told
B that the name was taken: a probe of A's policy names). Now a policy one tenant owns has
the id ``<tenant>/<name>``; both tenants' ``allow-web`` coexist, each tenant sees only its
own, and a bare name resolves within the caller's tenant (for admins: to the one policy of
that name, or a 422 listing the candidates when several tenants have one).

Real romanad processes over SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from romana.lab.romanad import Romanad
from support.romanad import AdminCalls
from unit.api.conftest import start


def allow_web(tenant: str) -> dict[str, Any]:
    return {
        "name": "allow-web",
        "applied_to": [{"tenant": tenant}],
        "ingress": [{"peers": [{"peer": "any"}], "rules": [{"protocol": "tcp", "ports": [80]}]}],
    }


class Deployment(AdminCalls):
    def __init__(self, daemon: Romanad) -> None:
        super().__init__(daemon)
        for tenant in ("ta", "tb"):
            self.ok("POST", "/v1/tenants", {"name": tenant})
            user = {
                "username": f"{tenant}-user",
                "password": f"{tenant}-password",
                "role": "tenant",
                "tenant": tenant,
            }
            self.ok("POST", "/v1/users", user)
        self.a = daemon.login("ta-user", "ta-password")
        self.b = daemon.login("tb-user", "tb-password")

    def ids(self, token: str) -> set[str]:
        listed = self.call(token, "GET", "/v1/policies")
        assert listed.status_code == 200, listed.text
        return {p["id"] for p in listed.json()}


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with start(tmp_path_factory.mktemp("policyids")) as daemon:
        yield Deployment(daemon)


def test_two_tenants_each_add_their_own_allow_web(d: Deployment) -> None:
    first = d.call(d.a, "POST", "/v1/policies", allow_web("ta"))
    assert first.status_code == 201, first.text
    second = d.call(d.b, "POST", "/v1/policies", allow_web("tb"))
    assert second.status_code == 201, second.text
    assert [p["id"] for p in first.json()] == ["ta/allow-web"]
    assert [(p["id"], p["name"]) for p in second.json()] == [("tb/allow-web", "allow-web")]
    assert d.ids(d.a) == {"ta/allow-web"}
    assert d.ids(d.b) == {"tb/allow-web"}
    assert {"ta/allow-web", "tb/allow-web"} <= d.ids(d.admin)


def test_a_bare_name_resolves_in_the_callers_tenant_and_is_ambiguous_for_an_admin(
    d: Deployment,
) -> None:
    for token, tenant in ((d.a, "ta"), (d.b, "tb")):
        mine = d.call(token, "GET", "/v1/policies/allow-web")
        assert mine.status_code == 200, mine.text
        assert mine.json()["applied_to"] == [{"tenant": tenant}]
    ambiguous = d.call(d.admin, "GET", "/v1/policies/allow-web")
    assert ambiguous.status_code == 422, ambiguous.text
    assert "ta/allow-web" in ambiguous.text and "tb/allow-web" in ambiguous.text
    # The id works written out and percent-encoded (as romana's client sends it).
    for path in ("/v1/policies/tb/allow-web", f"/v1/policies/{quote('tb/allow-web', safe='')}"):
        assert d.call(d.admin, "GET", path).json()["applied_to"] == [{"tenant": "tb"}]


def test_another_tenants_id_answers_as_a_missing_one(d: Deployment) -> None:
    for method in ("GET", "DELETE"):
        theirs = d.call(d.a, method, "/v1/policies/tb/allow-web")
        missing = d.call(d.a, method, "/v1/policies/tb/nothing")
        assert theirs.status_code == missing.status_code == 404, theirs.text
        assert theirs.json()["title"] == missing.json()["title"]
    assert d.call(d.admin, "GET", "/v1/policies/tb/allow-web").status_code == 200


def test_delete_by_id_removes_only_that_tenants_policy(d: Deployment) -> None:
    gone = d.call(d.admin, "DELETE", "/v1/policies/ta/allow-web")
    assert gone.status_code == 200, gone.text
    assert gone.json()["id"] == "ta/allow-web"
    assert d.ids(d.a) == set()
    assert d.ids(d.b) == {"tb/allow-web"}
    # With one tenant left holding the name, an admin's bare name is unambiguous again.
    assert d.call(d.admin, "DELETE", "/v1/policies/allow-web").json()["id"] == "tb/allow-web"
    assert not {"ta/allow-web", "tb/allow-web"} & d.ids(d.admin)
