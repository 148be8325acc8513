"""The agent registers its host with both underlay addresses; a registration that exists is
kept, with a warning when its IPv6 underlay address differs from the one found.

romanad is faked behind ``httpx.MockTransport``: ``POST /v1/hosts`` stores the body, or
answers 409 when the name is taken; ``GET /v1/hosts/{name}`` returns what is stored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from typing import Any

import httpx
import pytest

from romana.agent.romanad import Romanad
from romana.client import Client, ClientSettings
from romana.core import errors
from support import wire


class FakeHosts:
    def __init__(self) -> None:
        self.hosts: dict[str, dict[str, Any]] = {}
        self.posted: list[dict[str, Any]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/v1/hosts":
            body = json.loads(request.content)
            self.posted.append(body)
            if body["name"] in self.hosts:
                problem = {"title": "Already exists", "status": 409, "detail": "exists"}
                return httpx.Response(409, json=problem)
            host = wire.host(**body)
            self.hosts[body["name"]] = host
            return httpx.Response(201, json=host)
        name = request.url.path.rsplit("/", 1)[-1]
        return httpx.Response(200, json=self.hosts[name])

    def romanad(self) -> Romanad:
        settings = ClientSettings(url=("http://romanad.test:9600",), discover=False, retries=0)
        transport = httpx.MockTransport(self.handle)
        client = Client(settings, transport=transport, sleep=lambda _: None, rng=random.Random(1))
        return Romanad(client)


def test_both_underlay_addresses_are_registered_and_none_is_sent_when_absent() -> None:
    fake = FakeHosts()
    r = fake.romanad()
    host = asyncio.run(r.register("h1", "192.0.2.1", {"rack": "1"}, "2001:db8::1"))
    assert host["ip6"] == "2001:db8::1"
    asyncio.run(r.register("h2", "192.0.2.2", {}))
    assert fake.posted == [
        {"name": "h1", "ip": "192.0.2.1", "ip6": "2001:db8::1", "labels": {"rack": "1"}},
        {"name": "h2", "ip": "192.0.2.2", "labels": {}},
    ]


def test_an_existing_registration_with_another_ip6_is_kept_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeHosts()
    fake.hosts["h1"] = wire.host("h1", "192.0.2.1")
    r = fake.romanad()
    with caplog.at_level(logging.WARNING, logger="romana.agent.romanad"):
        host = asyncio.run(r.register("h1", "192.0.2.1", {}, "2001:db8::1"))
    assert host["ip6"] is None
    assert "registered with IPv6 underlay address (none), not 2001:db8::1" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="romana.agent.romanad"):
        asyncio.run(r.register("h1", "192.0.2.1", {}))
    assert caplog.text == ""
    # Another IPv4 address is a conflict an operator must resolve.
    with pytest.raises(
        errors.AlreadyExists, match=r"registered with IP 192\.0\.2\.1, not 192\.0\.2\.9"
    ):
        asyncio.run(r.register("h1", "192.0.2.9", {}, "2001:db8::1"))
