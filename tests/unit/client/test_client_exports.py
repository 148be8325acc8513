"""The client package exports exactly what it documents, and nothing by accident."""

from __future__ import annotations

import random
from typing import Any

import httpx

import romana.client
from support import wire


def test_public_names_are_exactly_all() -> None:
    # Private submodules become package attributes once imported; the exports load on first
    # use, so the package's listing (dir) is what it offers.
    private_modules = {
        *("calls", "directory", "errors", "http", "ipamcalls", "kube", "policycalls"),
        *("reach", "session", "settings", "tls", "transport"),
    }
    public = {n for n in dir(romana.client) if not n.startswith("_")} - private_modules
    assert sorted(public) == sorted(romana.client.__all__)


def test_the_long_poll_waits_longer_than_the_servers_wait(cluster: Any) -> None:
    seen: dict[str, Any] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["params"] = dict(request.url.params)
        seen["timeout"] = request.extensions["timeout"]["read"]
        return httpx.Response(200, json=wire.host_view(7))

    cluster.add("http://root.test:9600", handler)
    settings = romana.client.ClientSettings(url=("http://root.test:9600",), timeout=3.0)
    with romana.client.Client(
        settings, transport=httpx.MockTransport(cluster.handle), rng=random.Random(1)
    ) as client:
        assert client.host_view("h1", after=6, wait=30)["revision"] == 7
    assert seen["params"] == {"after": "6", "wait": "30"}
    assert seen["timeout"] == 33.0
