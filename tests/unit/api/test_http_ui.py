"""The web view's routes over plain HTTP: sessions, the security headers, read-only pages, and
a tenant user's view limited to its tenant, also when it asks the routes directly.

The browser tests (tests/browser) drive the same pages in chromium; these check what a
browser does not show: cookie attributes, refused cross-site logins, the JSON reads' answers
against the REST API's, and that nothing but login and logout takes anything but GET.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from romana.lab.romanad import Romanad
from support import tls
from unit.api.conftest import Api

PAGES = ("/ui/topology", "/ui/plan", "/ui/usage", "/ui/tenants", "/ui/reach")


def browser(api: Api) -> httpx.Client:
    return httpx.Client(base_url=api.url, timeout=30, trust_env=False)


@contextlib.contextmanager
def log_in(api: Api, username: str, password: str) -> Iterator[httpx.Client]:
    with browser(api) as client:
        answer = client.post(
            "/ui/login",
            data={"username": username, "password": password},
            headers={"Origin": api.url},
        )
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/ui/topology"
        yield client


@pytest.fixture(scope="module")
def world(api: Api) -> dict[str, str]:
    """Tenants ua and ub with one allocation each on h1; a tenant user of ua."""
    addresses = {}
    for tenant in ("ua", "ub"):
        assert api.admin.post("/v1/tenants", json={"name": tenant}).status_code == 201
        made = api.admin.post(
            "/v1/allocations", json={"key": f"{tenant}-1", "host": "h1", "tenant": tenant}
        )
        assert made.status_code == 201, made.text
        addresses[tenant] = made.json()["addresses"][0]
    body = {"username": "ui-ua", "password": "ui-ua-password", "role": "tenant", "tenant": "ua"}
    assert api.admin.post("/v1/users", json=body).status_code == 201
    return addresses


@pytest.fixture
def admin_view(api: Api, world: dict[str, str]) -> Iterator[httpx.Client]:
    with log_in(api, *api.daemon.admin()) as client:
        yield client


def test_pages_without_a_session_redirect_to_the_login_form(api: Api) -> None:
    with browser(api) as client:
        for page in PAGES:
            answer = client.get(page)
            assert answer.status_code == 303 and answer.headers["location"] == "/ui/login"
        assert client.get("/ui/api/decode/10.0.0.1").status_code == 401
        form = client.get("/ui/login")
        assert form.status_code == 200 and 'action="/ui/login"' in form.text


def test_login_sets_an_httponly_samesite_cookie_holding_a_working_token(api: Api) -> None:
    with log_in(api, *api.daemon.admin()) as client:
        cookie = client.cookies.jar
        (session,) = [c for c in cookie if c.name == "romana_ui"]
        assert session.path == "/ui" and not session.secure
        assert session.has_nonstandard_attr("HttpOnly")
        assert session.get_nonstandard_attr("SameSite", "").lower() == "strict"
        assert session.value is not None
        # The cookie holds the API's own token: it works as a bearer token too.
        who = httpx.get(f"{api.url}/v1/users", headers={"Authorization": f"Bearer {session.value}"})
        assert who.status_code == 200


def test_logins_from_another_origin_or_with_a_wrong_password_are_refused(api: Api) -> None:
    user, password = api.daemon.admin()
    form = {"username": user, "password": password}
    with browser(api) as client:
        assert client.post("/ui/login", data=form).status_code == 403
        evil = {"Origin": "http://evil.example"}
        assert client.post("/ui/login", data=form, headers=evil).status_code == 403
        cross = {"Origin": api.url, "Sec-Fetch-Site": "cross-site"}
        assert client.post("/ui/login", data=form, headers=cross).status_code == 403
        wrong = client.post(
            "/ui/login", data={**form, "password": "nope"}, headers={"Origin": api.url}
        )
        assert wrong.status_code == 401
        assert "wrong username or password" in wrong.text
        assert "romana_ui" not in client.cookies


def test_every_page_is_strict_about_scripts_and_styles(admin_view: httpx.Client) -> None:
    for page in PAGES:
        answer = admin_view.get(page)
        assert answer.status_code == 200, (page, answer.text)
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "unsafe-inline" not in csp and "default-src 'none'" in csp
        # No inline script, style attribute or event handler: the policy would block them.
        assert not re.search(r"<script(?![^>]*\bsrc=)", answer.text), page
        assert not re.search(r"\sstyle=|\son[a-z]+=|<style", answer.text), page
    script = admin_view.get("/ui/static/ui.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert admin_view.get("/ui/static/../app.py").status_code == 404


def test_only_login_and_logout_take_anything_but_get(api: Api, admin_view: httpx.Client) -> None:
    for page in (*PAGES, "/ui/api/decode/10.0.0.1", "/ui/api/explain"):
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            assert admin_view.request(method, page).status_code == 405, (method, page)
    paths = api.admin.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/ui")]


def test_decode_answers_as_the_rest_api(
    api: Api, admin_view: httpx.Client, world: dict[str, str]
) -> None:
    address = world["ua"]
    viewed = admin_view.get(f"/ui/api/decode/{address}")
    assert viewed.status_code == 200
    assert viewed.json() == api.admin.get(f"/v1/decode/{address}").json()
    page = admin_view.get("/ui/plan", params={"address": address}).text
    assert "ua-1" in page and "pods" in page


def test_a_matrix_cell_links_to_its_explanation_without_a_script(
    admin_view: httpx.Client, world: dict[str, str]
) -> None:
    matrix = admin_view.get("/ui/reach", params={"port": "tcp/80"}).text
    link = f"/ui/reach/explain?from={world['ua']}&amp;to={world['ub']}&amp;port=tcp%2F80"
    assert link in matrix
    page = admin_view.get(link.replace("&amp;", "&")).text
    assert f"{world['ua']} -&gt; {world['ub']} tcp/80</code>: denied" in page
    assert "denied by the default of tenant ub" in page
    wrong = admin_view.get("/ui/reach", params={"port": "tcp/0"}).text
    assert 'class="refused"' in wrong and "must be tcp/PORT" in wrong


def test_a_tenant_user_sees_only_its_tenant(api: Api, world: dict[str, str]) -> None:
    with log_in(api, "ui-ua", "ui-ua-password") as client:
        tenants = client.get("/ui/tenants").text
        assert ">ua<" in tenants and ">ub<" not in tenants
        assert client.get(f"/ui/api/decode/{world['ua']}").status_code == 200
        other = client.get(f"/ui/api/decode/{world['ub']}")
        assert other.status_code == 404 and "ub" not in other.text
        plan = client.get("/ui/plan", params={"address": world["ub"]}).text
        assert "ub-1" not in plan and "decodes to no tenant you may read" in plan
        for page in ("/ui/topology", "/ui/usage", "/ui/reach"):
            text = client.get(page).text
            assert 'class="refused"' in text, page
            assert "ub-1" not in text and ">ub<" not in text and world["ub"] not in text
        answer = client.get(
            "/ui/api/explain", params={"from": world["ua"], "to": world["ub"], "port": "tcp/80"}
        )
        assert answer.status_code == 403 and "whole model" in answer.json()["detail"]


def test_logout_revokes_the_token_and_clears_the_cookie(api: Api, world: dict[str, str]) -> None:
    with log_in(api, "ui-ua", "ui-ua-password") as client:
        token = client.cookies["romana_ui"]
        assert client.post("/ui/logout").status_code == 403  # no Origin: refused
        out = client.post("/ui/logout", headers={"Origin": api.url})
        assert out.status_code == 200 and "You are logged out." in out.text
        cleared = out.headers["set-cookie"]
        assert 'romana_ui=""' in cleared and "Max-Age=0" in cleared
        assert "romana_ui" not in client.cookies
    with browser(api) as stale:
        stale.cookies.set("romana_ui", token, path="/ui")
        answer = stale.get("/ui/tenants")
        assert answer.status_code == 303 and answer.headers["location"] == "/ui/login"
    revoked = httpx.get(f"{api.url}/v1/tenants", headers={"Authorization": f"Bearer {token}"})
    assert revoked.status_code == 401


def test_over_tls_the_cookie_is_secure(tmp_path: Path) -> None:
    ca = tls.make_ca(tmp_path / "ca")
    served = tls.Served(ca, ca.issue("romanad"))
    with Romanad(tmp_path, store=f"sqlite://{tmp_path / 'romana.db'}", tls=served) as daemon:
        user, password = daemon.admin()
        with httpx.Client(base_url=daemon.url, verify=served.context(), trust_env=False) as c:
            answer = c.post(
                "/ui/login",
                data={"username": user, "password": password},
                headers={"Origin": daemon.url},
            )
            assert answer.status_code == 303, answer.text
            cookie = answer.headers["set-cookie"]
            assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
