"""The agent's romanad calls keep a live token, and ``--insecure`` sends none.

romanad is faked behind ``httpx.MockTransport``: it hands out numbered tokens valid for
``TTL`` seconds on a clock the test moves, can revoke every token at once (a replaced
user or signing key), and answers 401 problem JSON, as romanad does, to anything else.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import httpx
import pytest

from romana.agent import main
from romana.agent.romanad import Romanad
from romana.agent.settings import AgentSettings
from romana.client import Client, ClientSettings
from romana.core import errors
from support import wire

ROOT = "http://romanad.test:9600"
TTL = 600.0


class FakeRomanad:
    def __init__(self) -> None:
        self.now = 1000.0
        self.issued: dict[str, float] = {}
        self.logins = 0
        self.seen: list[str] = []
        self.password = "secret-pw"
        self.refuse = 0
        """Calls (logins aside) to refuse the connection of, as a restarting romanad does."""

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.refuse and request.url.path != "/v1/auth/token":
            self.refuse -= 1
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        if request.url.path == "/v1/auth/token":
            body = json.loads(request.content)
            if body["password"] != self.password:
                return self.unauthorized("invalid username or password")
            self.logins += 1
            token = f"tok{self.logins}"
            self.issued[token] = self.now + TTL
            answer = {"token": token, "expires_at": self.now + TTL, "role": "agent", "tenant": None}
            return httpx.Response(200, json=answer)
        auth = request.headers.get("authorization", "")
        self.seen.append(auth)
        token = auth.removeprefix("Bearer ")
        if self.issued.get(token, 0.0) <= self.now:
            return self.unauthorized("the token has expired or was revoked")
        path = request.url.path
        if path.endswith("/view"):
            return httpx.Response(200, json={**wire.host_view(7), "path": path})
        return httpx.Response(200, json={**wire.allocation(), "path": path})

    @staticmethod
    def unauthorized(detail: str) -> httpx.Response:
        body = {"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": detail}
        return httpx.Response(401, json=body, headers={"content-type": "application/problem+json"})

    def romanad(self, credentials: tuple[str, str] | None, token: str = "") -> Romanad:
        settings = ClientSettings(url=(ROOT,), token=token, discover=False, retries=0)
        client = Client(
            settings,
            transport=httpx.MockTransport(self.handle),
            sleep=lambda _: None,
            rng=random.Random(1),
        )
        return Romanad(client, credentials, clock=lambda: self.now)


def view(r: Romanad) -> Any:
    return asyncio.run(r.view("h1", None, None))


def test_logs_in_before_the_first_call_and_again_before_the_token_expires() -> None:
    fake = FakeRomanad()
    r = fake.romanad(("agent-h1", "secret-pw"))
    assert view(r).revision == 7
    assert fake.seen == ["Bearer tok1"]
    fake.now += 0.5 * TTL
    view(r)
    assert fake.seen[-1] == "Bearer tok1", "a young token is kept"
    fake.now += 0.45 * TTL  # past nine tenths of its lifetime: renewed before it runs out
    view(r)
    assert fake.seen[-1] == "Bearer tok2"
    assert r.logins == 2
    assert all(s != "" for s in fake.seen)


def test_a_401_logs_in_again_and_the_call_goes_through() -> None:
    fake = FakeRomanad()
    r = fake.romanad(("agent-h1", "secret-pw"))
    view(r)
    fake.issued.clear()  # romanad revoked every token (user re-created, key replaced)
    assert view(r).revision == 7
    assert fake.seen[-2:] == ["Bearer tok1", "Bearer tok2"]
    assert r.logins == 2


def test_concurrent_calls_with_a_revoked_token_log_in_once() -> None:
    fake = FakeRomanad()
    r = fake.romanad(("agent-h1", "secret-pw"))
    view(r)
    fake.issued.clear()

    async def many() -> list[Any]:
        return await asyncio.gather(*(r.view("h1", None, None) for _ in range(8)))

    assert all(v.revision == 7 for v in asyncio.run(many()))
    assert r.logins == 2, "calls that saw the same stale token share one login"


def test_a_wrong_password_is_unauthorized_not_retried_forever() -> None:
    fake = FakeRomanad()
    fake.password = "changed-pw"
    r = fake.romanad(("agent-h1", "secret-pw"))
    with pytest.raises(errors.Unauthorized):
        view(r)
    assert fake.seen == []


def test_without_credentials_a_401_is_the_callers() -> None:
    fake = FakeRomanad()
    r = fake.romanad(None, token="static")
    with pytest.raises(errors.Unauthorized):
        view(r)
    assert fake.seen == ["Bearer static"]


def test_insecure_sends_no_credentials_and_none_at_all_is_a_settings_error() -> None:
    insecure = AgentSettings(insecure=True)
    insecure.validate()
    assert main._credentials(insecure) == ("", None)
    user = AgentSettings(username="agent-h1", password="secret-pw")
    assert main._credentials(user) == ("", ("agent-h1", "secret-pw"))
    assert main._credentials(AgentSettings(token="t0k")) == ("t0k", None)
    with pytest.raises(errors.InvalidInput) as info:
        AgentSettings().validate()
    assert [i.field for i in info.value.issues] == ["token"]
    assert "--insecure" in str(info.value) and "--username" in str(info.value)


def test_an_allocation_waits_for_a_romanad_that_refuses_connections_within_its_time() -> None:
    fake = FakeRomanad()
    r = fake.romanad(("agent-h1", "secret-pw"))
    fake.refuse = 3
    answer = asyncio.run(r.allocate("c1:eth0", "h1", "t1", "default", within=10.0))
    assert answer["path"] == "/v1/allocations" and fake.refuse == 0
    fake.refuse = 1
    with pytest.raises(errors.Unavailable):
        asyncio.run(r.allocate("c2:eth0", "h1", "t1", "default"))  # no time to wait
