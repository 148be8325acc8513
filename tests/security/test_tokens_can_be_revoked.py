"""Tokens can be revoked, at once, on every replica.

Issue 12, point 5: after ``--reset-admin`` the old admin token still worked, logout only
deleted a file, and nothing else could end a token before it expired. Now a password change
(by an admin, or by users of their own), deleting a user, ``romana logout`` (``POST
/v1/auth/logout``) and an admin's ``romana user revoke USER`` make every token of that user
fail with 401 on the very next request, also on another replica sharing the store; and
``--reset-admin`` revokes the admin's tokens.

Real romanad processes over one SQLite file; the CLI runs in-process against them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from romana.cli import settings as cli_settings
from romana.lab import etcd
from romana.lab.romanad import Romanad
from unit.api.conftest import start
from unit.cli.conftest import Cli


class Deployment:
    """Two replicas of romanad on one store, and an admin session on the first."""

    def __init__(self, one: Romanad, two: Romanad) -> None:
        self.one, self.two = one, two
        self.admin_user, self.admin_password = one.admin()
        self.admin = self.login(self.admin_user, self.admin_password)

    def login(self, username: str, password: str, at: Romanad | None = None) -> str:
        return (at or self.one).login(username, password)

    def call(
        self, token: str, method: str, path: str, at: Romanad | None = None, payload: object = None
    ) -> httpx.Response:
        return httpx.request(
            method,
            f"{(at or self.one).url}{path}",
            headers={"Authorization": f"Bearer {token}"},
            trust_env=False,
            timeout=30,
            json=payload,
        )

    def works(self, token: str) -> list[int]:
        """The status of one authenticated read at each replica."""
        return [
            self.call(token, "GET", "/v1/tenants", at=r).status_code for r in (self.one, self.two)
        ]

    def user(self, username: str, role: str = "service") -> str:
        """Create a user; its password."""
        password = f"{username}-password"
        body = {"username": username, "password": password, "role": role}
        if role == "tenant":
            body["tenant"] = "acme"
        r = self.call(self.admin, "POST", "/v1/users", payload=body)
        assert r.status_code == 201, r.text
        return password


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with start(tmp_path_factory.mktemp("revocation")) as one, one.replica() as two:
        d = Deployment(one, two)
        assert d.call(d.admin, "POST", "/v1/tenants", payload={"name": "acme"}).status_code == 201
        yield d


def test_an_admin_password_change_revokes_the_users_tokens_at_once(
    deployment: Deployment,
) -> None:
    d = deployment
    password = d.user("pw-by-admin")
    token = d.login("pw-by-admin", password)
    other = d.login("pw-by-admin", password, at=d.two)
    assert d.works(token) == d.works(other) == [200, 200]
    r = d.call(d.admin, "PUT", "/v1/users/pw-by-admin/password", payload={"password": "fresh-pw-1"})
    assert r.status_code == 200, r.text
    assert d.works(token) == d.works(other) == [401, 401]
    assert "revoked" in d.call(token, "GET", "/v1/tenants").json()["detail"]
    assert d.works(d.login("pw-by-admin", "fresh-pw-1")) == [200, 200]
    assert d.works(d.admin) == [200, 200]


def test_users_change_their_own_password_with_the_current_one(deployment: Deployment) -> None:
    d = deployment
    password = d.user("pw-by-self", "tenant")
    token = d.login("pw-by-self", password)
    path = "/v1/users/pw-by-self/password"
    missing = d.call(token, "PUT", path, payload={"password": "fresh-pw-1"})
    assert missing.status_code == 422 and "current_password" in missing.text
    wrong = d.call(
        token, "PUT", path, payload={"password": "fresh-pw-1", "current_password": "no!"}
    )
    assert wrong.status_code == 403
    body = {"password": "fresh-pw-1", "current_password": password}
    others = d.call(token, "PUT", f"/v1/users/{d.admin_user}/password", payload=body)
    assert others.status_code == 403
    assert d.works(token) == [200, 200]
    assert d.call(token, "PUT", path, payload=body).status_code == 200
    assert d.works(token) == [401, 401]


def test_deleting_a_user_revokes_its_tokens_at_once(deployment: Deployment) -> None:
    d = deployment
    token = d.login("doomed", d.user("doomed"))
    assert d.works(token) == [200, 200]
    assert d.call(d.admin, "DELETE", "/v1/users/doomed").status_code == 204
    assert d.works(token) == [401, 401]


def test_logout_revokes_the_callers_tokens_at_once(deployment: Deployment) -> None:
    d = deployment
    password = d.user("leaver")
    token, elsewhere = d.login("leaver", password), d.login("leaver", password, at=d.two)
    assert d.call(token, "POST", "/v1/auth/logout").status_code == 204
    assert d.works(token) == d.works(elsewhere) == [401, 401]
    assert d.works(d.login("leaver", password)) == [200, 200]


def test_an_admin_revokes_a_users_tokens_and_nobody_else_may(deployment: Deployment) -> None:
    d = deployment
    password = d.user("suspect")
    token = d.login("suspect", password)
    bystander = d.login("bystander", d.user("bystander"))
    assert d.call(bystander, "POST", "/v1/users/suspect/revoke").status_code == 403
    assert d.works(token) == [200, 200]
    assert d.call(d.admin, "POST", "/v1/users/suspect/revoke").status_code == 204
    assert d.works(token) == [401, 401]
    assert d.works(bystander) == [200, 200]
    assert d.call(d.admin, "POST", "/v1/users/nobody/revoke").status_code == 404


def test_romana_logout_revokes_the_token_before_deleting_it(
    deployment: Deployment, tmp_path: Path
) -> None:
    d = deployment
    password = d.user("cli-leaver")
    romana = Cli.at(d.one.url, tmp_path)
    result = romana("login", "-u", "cli-leaver", "-p", password)
    assert result.exit_code == 0, result.output
    token = cli_settings.saved_token(tmp_path / "config.toml")
    assert d.works(token) == [200, 200]
    result = romana("logout")
    assert result.exit_code == 0, result.output
    assert "revoked" in result.output
    assert cli_settings.saved_token(tmp_path / "config.toml") == ""
    assert d.works(token) == [401, 401]


def test_romana_user_revoke_and_password(deployment: Deployment, tmp_path: Path) -> None:
    d = deployment
    password = d.user("cli-target")
    token = d.login("cli-target", password)
    romana = Cli.at(d.one.url, tmp_path)
    assert romana("login", "-u", d.admin_user, "-p", d.admin_password).exit_code == 0
    result = romana("user", "revoke", "cli-target")
    assert result.exit_code == 0, result.output
    assert d.works(token) == [401, 401]
    token = d.login("cli-target", password)
    result = romana("user", "password", "cli-target", input="fresh-pw-1\nfresh-pw-1\n")
    assert result.exit_code == 0, result.output
    assert d.works(token) == [401, 401]
    assert d.works(d.login("cli-target", "fresh-pw-1")) == [200, 200]


def test_reset_admin_revokes_the_old_admin_tokens(tmp_path: Path) -> None:
    with start(tmp_path) as first:
        user, password = first.admin()
        headers = {"Authorization": f"Bearer {first.login(user, password)}"}
        assert httpx.get(f"{first.url}/v1/users", headers=headers, trust_env=False).is_success
    with start(tmp_path, extra=["--reset-admin"]) as again:
        r = httpx.get(f"{again.url}/v1/users", headers=headers, trust_env=False)
        assert r.status_code == 401 and "revoked" in r.json()["detail"]
        user, fresh = again.admin()
        assert fresh != password
        again.login(user, fresh)


def test_romana_logout_keeps_the_token_when_romanad_cannot_revoke_it(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{etcd.free_ports(1)[0]}"  # nothing listens there
    config = tmp_path / "config.toml"
    cli_settings.save_token(config, {"token": "a.b", "urls": [url]})
    romana = Cli.at(url, tmp_path)
    result = romana("logout")
    assert result.exit_code == 10, result.output  # unavailable
    assert cli_settings.saved_token(config) == "a.b"
    result = romana("logout", "--local")
    assert result.exit_code == 0, result.output
    assert cli_settings.saved_token(config) == ""
