"""Authentication and tenant isolation over HTTP, against a real romanad process."""

from __future__ import annotations

import base64
import json
import os
import stat
import time
from pathlib import Path

from romana.services.auth import AuthService
from romana.store import open_store
from unit.api.conftest import Api, start


def test_no_token_is_401_and_public_endpoints_need_none(api: Api) -> None:
    anonymous = api.client()
    for method, path in [
        ("GET", "/v1/tenants"),
        ("POST", "/v1/tenants"),
        ("GET", "/v1/hosts/h1/view"),
        ("GET", "/v1/users"),
        ("PUT", "/v1/topology"),
    ]:
        r = anonymous.request(method, path, json={})
        assert r.status_code == 401, (method, path, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["status"] == 401
    assert anonymous.get("/healthz").status_code == 200
    assert anonymous.get("/v1/services").status_code == 200


def test_tenant_users_see_and_change_only_their_tenant(api: Api) -> None:
    for name in ("alpha", "beta"):
        assert api.admin.post("/v1/tenants", json={"name": name}).status_code == 201
    a = api.user("alpha-user", "tenant", "alpha")
    b_alloc = api.admin.post("/v1/allocations", json={"key": "b1", "host": "h1", "tenant": "beta"})
    assert b_alloc.status_code == 201

    mine = a.post("/v1/allocations", json={"key": "a1", "host": "h1", "tenant": "alpha"})
    assert mine.status_code == 201, mine.text
    assert a.get("/v1/tenants/alpha").status_code == 200
    assert [t["name"] for t in a.get("/v1/tenants").json()] == ["alpha"]
    assert [x["key"] for x in a.get("/v1/allocations").json()] == ["a1"]
    assert a.post("/v1/tenants/alpha/segments", json={"name": "db"}).status_code == 201

    # Another tenant's objects fetched by name, key or address are not found (not 403).
    hidden = [
        a.get("/v1/tenants/beta"),
        a.post("/v1/tenants/beta/segments", json={"name": "db"}),
        a.get("/v1/allocations/b1"),
        a.delete("/v1/allocations/b1"),
        a.delete(f"/v1/addresses/{b_alloc.json()['addresses'][0]}"),
    ]
    assert [r.status_code for r in hidden] == [404] * len(hidden), [r.text for r in hidden]
    refused = [
        a.delete("/v1/tenants/beta"),
        a.post("/v1/allocations", json={"key": "a2", "host": "h1", "tenant": "beta"}),
        a.get("/v1/allocations", params={"tenant": "beta"}),
        a.post("/v1/tenants", json={"name": "gamma"}),
        a.get("/v1/users"),
        a.get("/v1/topology"),
        a.post(
            "/v1/policies",
            json={
                "applied_to": [{"tenant": "beta"}],
                "ingress": [{"peers": [{"peer": "any"}], "rules": [{"protocol": "tcp"}]}],
            },
        ),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused), [r.text for r in refused]
    # Nothing of beta changed.
    assert api.admin.get("/v1/allocations/b1").status_code == 200
    assert api.admin.get("/v1/tenants/beta").json()["segments"] == {"default": 0}


def _mint(api: Api, username: str, *, clock: float) -> str:
    store = open_store(f"sqlite://{api.daemon.workdir / 'romana.db'}")
    try:
        svc = AuthService(store, token_ttl=60, clock=lambda: clock)
        return svc.mint(svc.get_user(username)).token
    finally:
        store.close()


def test_expired_and_forged_tokens_are_refused(api: Api) -> None:
    user, _ = api.daemon.admin()
    fresh = _mint(api, user, clock=time.time())
    assert api.client(fresh).get("/v1/tenants").status_code == 200
    expired = _mint(api, user, clock=time.time() - 3600)
    r = api.client(expired).get("/v1/tenants")
    assert r.status_code == 401 and "expired" in r.json()["detail"]

    tenant_token = api.login(*_tenant_user(api))
    body, sig = tenant_token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload.update(role="admin", sub=user)
    edited = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    bad_sig = sig[:-4] + ("AAAA" if not sig.endswith("AAAA") else "BBBB")
    for forged in (f"{edited}.{sig}", f"{body}.{bad_sig}", "not-a-token"):
        r = api.client(forged).get("/v1/users")
        assert r.status_code == 401, forged


def _tenant_user(api: Api) -> tuple[str, str]:
    api.admin.post("/v1/tenants", json={"name": "delta"})
    api.admin.post(
        "/v1/users",
        json={
            "username": "delta-user",
            "password": "delta-pass",
            "role": "tenant",
            "tenant": "delta",
        },
    )
    return "delta-user", "delta-pass"


def test_deleted_users_tokens_stop_working(api: Api) -> None:
    agent = api.user("agent-1", "agent", host="h1")
    assert agent.get("/v1/hosts/h1/view").status_code == 200
    assert agent.post("/v1/tenants", json={"name": "nope"}).status_code == 403
    assert api.admin.delete("/v1/users/agent-1").status_code == 204
    assert agent.get("/v1/hosts/h1/view").status_code == 401


def test_credentials_file_is_root_only_and_reused_on_restart(tmp_path: Path) -> None:
    with start(tmp_path) as first:
        mode = stat.S_IMODE(os.stat(first.credentials).st_mode)
        assert mode == 0o600
        text = first.credentials.read_text()
        assert f"url = {first.url}" in text
        user, password = first.admin()
    with start(tmp_path) as again:
        assert again.credentials.read_text() == text
        again.login(user, password)
