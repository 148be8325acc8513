"""Every answer of romanad says not to store it and not to sniff its type.

Found probing a fresh install: the token answer (``POST /v1/auth/token``) and every other
REST answer came without ``Cache-Control`` or ``X-Content-Type-Options``, so a caching proxy
in front of romanad (docs/security.md suggests one) or a browser could keep a bearer token or
a host view, and a JSON answer echoing a name could be sniffed as HTML. The web view already
sent both. Now every answer carries ``Cache-Control: no-store`` and
``X-Content-Type-Options: nosniff``, refusals of the request limits included, and the web
view's own headers stay single.

A real romanad over SQLite.
"""

from __future__ import annotations

import httpx

from romana.lab.romanad import Romanad
from support.romanad import sqlite_fixture

romanad = sqlite_fixture("nocache")


def _hardened(r: httpx.Response) -> None:
    assert r.headers.get_list("cache-control") == ["no-store"], (r.status_code, r.headers)
    assert r.headers.get_list("x-content-type-options") == ["nosniff"], r.headers


def test_the_token_answer_is_not_stored(romanad: Romanad) -> None:
    user, password = romanad.admin()
    with romanad.http() as http:
        r = http.post(f"{romanad.url}/v1/auth/token", json={"username": user, "password": password})
    assert r.status_code == 200
    _hardened(r)


def test_reads_refusals_and_limits_are_not_stored(romanad: Romanad) -> None:
    token = romanad.admin_token()
    auth = {"Authorization": f"Bearer {token}"}
    with romanad.http() as http:
        answers = [
            http.get(f"{romanad.url}/v1/users", headers=auth),
            http.get(f"{romanad.url}/v1/tenants/secprobe-missing", headers=auth),
            http.get(f"{romanad.url}/v1/users"),
            http.get(f"{romanad.url}/healthz"),
            http.get(f"{romanad.url}/openapi.json"),
            http.post(f"{romanad.url}/v1/auth/token", content=b"x" * 20000),
        ]
    assert [a.status_code for a in answers] == [200, 404, 401, 200, 200, 413]
    for answer in answers:
        _hardened(answer)


def test_the_web_view_keeps_its_own_headers(romanad: Romanad) -> None:
    with romanad.http() as http:
        r = http.get(f"{romanad.url}/ui/login")
    assert r.status_code == 200
    _hardened(r)
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
