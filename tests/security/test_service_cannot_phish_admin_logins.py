"""A service account cannot phish admin logins through the service registry.

Issue 12, point 3: any ``service`` user could register an ``auth`` instance at its own URL,
and most later ``romana login -u admin`` then sent the admin password there. Now only an
admin or romanad's own ``internal`` identity registers or deregisters instances, and clients
send passwords only to the root URLs they were configured with, so even an instance an admin
registered never sees one. A split deployment still registers itself (with the internal
identity) and still logs in through the root alone.

Real romanad processes over SQLite; the stranger is a recording HTTP server on loopback.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from romana.client import Client, ClientSettings
from romana.core.errors import Forbidden, InvalidInput
from romana.core.store import Put
from romana.lab.romanad import Romanad
from romana.services import auth, txn
from romana.store import open_store
from romana.store.memory import MemoryStore
from support.recorder import Recorder
from support.romanad import sqlite_fixture
from unit.cli.conftest import Cli

LOGINS = 6


daemon = sqlite_fixture("phish", registration_ttl=600)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with Recorder() as rec:
        yield rec


def api(url: str, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, trust_env=False, timeout=10
    )


def user(daemon: Romanad, name: str, role: str, host: str | None = None) -> httpx.Client:
    body = {"username": name, "password": f"{name}-pw-1", "role": role}
    if host is not None:
        body["host"] = host
    with api(daemon.url, daemon.admin_token()) as admin:
        r = admin.post("/v1/users", json=body)
        assert r.status_code in (201, 409), r.text
    return api(daemon.url, daemon.login(name, f"{name}-pw-1"))


def registered(url: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = httpx.get(f"{url}/v1/services", trust_env=False).json()
    return listed


def test_a_service_user_cannot_register_or_deregister_instances(
    daemon: Romanad, recorder: Recorder
) -> None:
    before = registered(daemon.url)
    own = next(r for r in before if r["name"] == "auth")
    with user(daemon, "svc", "service") as svc:
        r = svc.put(
            "/v1/services/auth/evil", json={"url": recorder.url, "capabilities": [], "ttl": 600}
        )
        assert r.status_code == 403, r.text
        r = svc.delete(f"/v1/services/auth/{own['instance']}")
        assert r.status_code == 403, r.text
        # Everything else a service user may do still works.
        assert svc.get("/v1/hosts").status_code == 200
    after = registered(daemon.url)
    assert recorder.url not in {r["url"] for r in after}
    assert {(r["name"], r["instance"]) for r in after} == {
        (r["name"], r["instance"]) for r in before
    }


def test_agents_and_tenants_cannot_register_either(daemon: Romanad, recorder: Recorder) -> None:
    body = {"url": recorder.url, "capabilities": [], "ttl": 600}
    with user(daemon, "agent1", "agent", host="h1") as agent:
        assert agent.put("/v1/services/auth/evil", json=body).status_code == 403
    with httpx.Client(base_url=daemon.url, trust_env=False) as anonymous:
        assert anonymous.put("/v1/services/auth/evil", json=body).status_code == 401


def test_passwords_never_reach_a_registered_auth_instance(
    daemon: Romanad, recorder: Recorder, tmp_path: Path
) -> None:
    admin_user, password = daemon.admin()
    with api(daemon.url, daemon.login(admin_user, password)) as admin:
        body = {"url": recorder.url, "capabilities": [], "ttl": 600}
        assert admin.put("/v1/services/auth/foreign", json=body).status_code == 200
    try:
        assert recorder.url in {r["url"] for r in registered(daemon.url) if r["name"] == "auth"}
        romana = Cli.at(daemon.url, tmp_path, ROMANA_DIRECTORY_TTL="0")
        for _ in range(LOGINS):
            result = romana("login", "-u", admin_user, input=f"{password}\n")
            assert result.exit_code == 0, result.output
            assert recorder.carrying(password) == [], "the password went to the stranger"
            # The token works against the real romanad (not a phished one).
            listed = romana("tenant", "list", "-o", "json")
            assert listed.exit_code == 0, listed.output
        # The library client (used by the agent and integrations) behaves the same, for
        # logins and for the other call that carries a password.
        settings = ClientSettings(url=(daemon.url,), retries=0, directory_ttl=0.0)
        with Client(settings) as client:
            for i in range(LOGINS):
                client.login(admin_user, password)
                client.create_user(f"made-{i}", "made-password-1", "agent", host=f"h{i}")
        assert recorder.carrying(password) == []
        assert recorder.carrying("made-password-1") == []
        assert [s for s in recorder.seen if s.path == "/v1/auth/token"] == []
    finally:
        with api(daemon.url, daemon.login(admin_user, password)) as admin:
            admin.delete("/v1/services/auth/foreign")


def test_the_internal_identity_may_register_and_nothing_else() -> None:
    internal = auth.Principal(auth.INTERNAL_USER, auth.Role.INTERNAL, None)
    auth.authorize(internal, auth.Action.REGISTER_SERVICE)
    for action in auth.Action:
        if action is not auth.Action.REGISTER_SERVICE:
            assert not auth.may(internal, action)
    service = auth.Principal("svc", auth.Role.SERVICE, None)
    with pytest.raises(Forbidden):
        auth.authorize(service, auth.Action.REGISTER_SERVICE)
    admin = auth.Principal("admin", auth.Role.ADMIN, None)
    auth.authorize(admin, auth.Action.REGISTER_SERVICE)


def test_nobody_can_be_made_internal_or_take_its_name() -> None:
    svc = auth.AuthService(MemoryStore())
    with pytest.raises(InvalidInput, match="role"):
        svc.create_user("bot", "bot-password-1", "internal")
    with pytest.raises(InvalidInput, match="reserved"):
        svc.create_user(auth.INTERNAL_USER, "bot-password-1", "admin")


def test_an_internal_user_made_by_an_older_release_loses_the_service_role() -> None:
    store = MemoryStore()
    old = {
        "username": auth.INTERNAL_USER,
        "role": "service",
        "tenant": None,
        "uid": "0123456789abcdef",
        "password": None,
    }
    store.txn([], [Put(auth.user_key(auth.INTERNAL_USER), txn.dumps(old))])
    svc = auth.AuthService(store)
    user = svc.ensure_internal_user()
    assert user.role is auth.Role.INTERNAL and user.uid == old["uid"]
    assert svc.ensure_internal_user() == user


def test_a_split_deployment_registers_itself_and_logs_in_through_the_root(
    tmp_path: Path, recorder: Recorder
) -> None:
    store = f"sqlite://{tmp_path}/romana.db"
    credentials = tmp_path / "admin.credentials"
    root = Romanad(
        tmp_path, store=store, name="root", services=["root"], credentials=credentials
    ).start()
    rest = None
    try:
        rest = Romanad(
            tmp_path,
            store=store,
            name="rest",
            services=["auth", "tenant"],
            root=root.url,
            credentials=credentials,
            registration_ttl=3,
        ).start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if {r["name"] for r in registered(root.url) if r["url"] == rest.url} >= {
                "auth",
                "tenant",
            }:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"never registered: {registered(root.url)}\n{rest.log_tail()}")
        # It registered as the internal user, whose tokens are good for nothing else.
        internal = auth.AuthService(open_store(store))
        token = internal.mint(internal.get_user(auth.INTERNAL_USER)).token
        with api(rest.url, token) as client:
            assert client.post("/v1/tenants", json={"name": "x"}).status_code == 403
            assert client.get("/v1/users").status_code == 403
        with api(root.url, token) as client:
            body = {"url": recorder.url, "capabilities": [], "ttl": 5}
            assert client.put("/v1/services/tenant/x", json=body).status_code == 200
            assert client.delete("/v1/services/tenant/x").status_code == 204
        # A client given only the root logs in there, and works through the rest.
        user_name, password = root.admin()
        settings = ClientSettings(url=(root.url,), retries=2, directory_ttl=0.0)
        with Client(settings) as client:
            client.login(user_name, password)
            client.create_user("split-user", "split-password-1", "service")
            assert client.list_tenants() == []
            assert "split-user" in {u["username"] for u in client.list_users()}
        # The root answers only the password-carrying calls of auth; the rest lives elsewhere.
        r = httpx.get(f"{root.url}/v1/users", trust_env=False)
        assert r.status_code == 404 and "'auth' service" in r.json()["detail"]
    finally:
        if rest is not None:
            rest.stop()
        root.stop()
