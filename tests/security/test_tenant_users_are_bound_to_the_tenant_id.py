"""Tenant users are bound to their tenant's immutable id, not its name.

Issue 12, point 9: a user could be created for a tenant that did not exist, and after a
tenant was deleted and a new one of the same name created for someone else, the old user's
token read and allocated in it. Now creating a tenant user needs the tenant (422 naming
``tenant``), the user stores the tenant's ``uid``, deleting the tenant deletes its users in
the same transaction, and a token is refused (401) unless its user's tenant still exists
with that uid.

A real romanad over SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from romana.core.errors import Unauthorized
from romana.core.identifiers import TenantName
from romana.core.store import Delete, Put
from romana.lab.romanad import Romanad
from romana.services import keys, txn, upgrade
from romana.services.auth import AuthService
from romana.store.memory import MemoryStore
from unit.api.conftest import start

ACME = TenantName("acme")


class Admin:
    def __init__(self, daemon: Romanad) -> None:
        self.daemon = daemon
        self.token = daemon.login(*daemon.admin())

    def call(
        self, method: str, path: str, payload: object = None, token: str | None = None
    ) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.daemon.url}{path}",
            headers={"Authorization": f"Bearer {token or self.token}"},
            trust_env=False,
            timeout=30,
            json=payload,
        )

    def tenant_user(self, username: str, tenant: str) -> httpx.Response:
        body = {"username": username, "password": f"{username}-pw", "role": "tenant"}
        return self.call("POST", "/v1/users", {**body, "tenant": tenant})


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Admin]:
    with start(tmp_path_factory.mktemp("bound")) as daemon:
        a = Admin(daemon)
        host = {"name": "h1", "ip": "192.0.2.1", "labels": {"rack": "a"}}
        assert a.call("POST", "/v1/hosts", host).status_code == 201
        yield a


def test_a_user_for_a_missing_tenant_is_refused(admin: Admin) -> None:
    r = admin.tenant_user("ghost-user", "ghost")
    assert r.status_code == 422, r.text
    assert "tenant" in r.text and "does not" in r.text
    assert admin.call("GET", "/v1/users/ghost-user").status_code in (404, 405)
    names = [u["username"] for u in admin.call("GET", "/v1/users").json()]
    assert "ghost-user" not in names


def test_a_recreated_tenant_of_the_same_name_is_another_tenant(admin: Admin) -> None:
    assert admin.call("POST", "/v1/tenants", {"name": "reused"}).status_code == 201
    assert admin.tenant_user("old-owner", "reused").status_code == 201
    old = admin.daemon.login("old-owner", "old-owner-pw")
    assert admin.call("GET", "/v1/tenants/reused", token=old).status_code == 200

    assert admin.call("DELETE", "/v1/tenants/reused").status_code == 200
    assert admin.call("POST", "/v1/tenants", {"name": "reused"}).status_code == 201

    read = admin.call("GET", "/v1/tenants/reused", token=old)
    assert read.status_code == 401, read.text
    alloc = {"key": "stolen", "host": "h1", "tenant": "reused"}
    allocate = admin.call("POST", "/v1/allocations", alloc, token=old)
    assert allocate.status_code == 401, allocate.text
    assert admin.call("GET", "/v1/allocations/stolen").status_code == 404


def test_deleting_a_tenant_deletes_its_users(admin: Admin) -> None:
    assert admin.call("POST", "/v1/tenants", {"name": "gone"}).status_code == 201
    assert admin.call("POST", "/v1/tenants", {"name": "kept"}).status_code == 201
    assert admin.tenant_user("gone-user", "gone").status_code == 201
    assert admin.tenant_user("kept-user", "kept").status_code == 201
    token = admin.daemon.login("gone-user", "gone-user-pw")

    assert admin.call("DELETE", "/v1/tenants/gone").status_code == 200

    names = [u["username"] for u in admin.call("GET", "/v1/users").json()]
    assert "gone-user" not in names and "kept-user" in names
    r = admin.call("GET", "/v1/tenants", token=token)
    assert r.status_code == 401, r.text
    assert (
        admin.call(
            "GET", "/v1/tenants/kept", token=admin.daemon.login("kept-user", "kept-user-pw")
        ).status_code
        == 200
    )


def test_a_token_is_refused_once_its_tenant_has_another_uid() -> None:
    """Also when the tenant was replaced without deleting the user (a record an earlier
    release stored, or a deletion racing the user's creation): verification compares uids."""
    store = MemoryStore()
    tenant = {"name": "acme", "external_id": "", "ids": {}, "uid": "first"}
    store.txn([], [Put(keys.tenant(ACME), txn.dumps(tenant))])
    service = AuthService(store)
    user = service.create_user("acme-user", "acme-user-pw", "tenant", ACME)
    assert user.tenant_uid == "first"
    token = service.mint(user).token
    assert service.verify(token).tenant == "acme"

    store.txn([], [Put(keys.tenant(ACME), txn.dumps(tenant | {"uid": "second"}))])
    with pytest.raises(Unauthorized, match=r"tenant 'acme' .* no longer exists"):
        service.verify(token)
    store.txn([], [Delete(keys.tenant(ACME))])
    with pytest.raises(Unauthorized, match="no longer exists"):
        service.verify(token)


def test_the_upgrade_gives_old_tenants_a_uid_and_binds_their_users() -> None:
    store = MemoryStore()
    old_tenant = {"name": "acme", "external_id": "", "ids": {}, "isolation": {"mode": "romana"}}
    old_user = {"username": "u", "role": "tenant", "tenant": "acme", "uid": "x", "password": None}
    store.txn(
        [],
        [
            Put(keys.tenant(ACME), txn.dumps(old_tenant)),
            Put(keys.USERS + "u", txn.dumps(old_user)),
        ],
    )
    notes = upgrade.run(store)
    assert any("tenant acme had no uid" in n for n in notes)
    uid = txn.loads(store.get(keys.tenant(ACME)))["uid"]  # type: ignore[arg-type]
    assert uid and AuthService(store).get_user("u").tenant_uid == uid
    assert not any("uid" in n for n in upgrade.run(store)), "idempotent"
    assert txn.loads(store.get(keys.tenant(ACME)))["uid"] == uid  # type: ignore[arg-type]
