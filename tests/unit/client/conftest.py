"""A fake romanad cluster behind httpx.MockTransport, for the client's unit tests.

Each instance is a base URL with a handler; the cluster records every request as
``(base URL, method, path)`` and can take instances down (connection refused).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from romana.client import Client, ClientSettings

Handler = Callable[[httpx.Request], httpx.Response]

ROOT = "http://root.test:9600"


class FakeCluster:
    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}
        self.registry: list[dict[str, Any]] = []
        self.down: set[str] = set()
        self.log: list[tuple[str, str, str]] = []
        self.sleeps: list[float] = []
        self.now = 0.0
        self.add(ROOT, lambda r: httpx.Response(200, json={"status": "ok"}))

    def add(self, url: str, handler: Handler) -> None:
        self.handlers[url] = handler

    def register(self, name: str, url: str, handler: Handler | None = None) -> None:
        n = sum(1 for r in self.registry if r["name"] == name)
        self.registry.append(
            {
                "name": name,
                "instance": f"{name}-{n}",
                "url": url,
                "capabilities": [],
                "expires_at": 1e12,
            }
        )
        if handler is not None:
            self.add(url, handler)

    def handle(self, request: httpx.Request) -> httpx.Response:
        base = f"{request.url.scheme}://{request.url.host}:{request.url.port}"
        self.log.append((base, request.method, request.url.path))
        if base in self.down or base not in self.handlers:
            raise httpx.ConnectError("connection refused", request=request)
        if base == ROOT and request.url.path == "/v1/services":
            return httpx.Response(200, json=self.registry)
        return self.handlers[base](request)

    @staticmethod
    def problem(status: int, detail: str, **extra: Any) -> httpx.Response:
        """A problem+json response as romanad sends it."""
        headers = extra.pop("headers", {})
        body = {"type": "about:blank", "title": "t", "status": status, "detail": detail, **extra}
        return httpx.Response(status, json=body, headers=headers)

    @staticmethod
    def body_of(request: httpx.Request) -> Any:
        return json.loads(request.content) if request.content else None

    def sent(self, path: str | None = None) -> list[tuple[str, str, str]]:
        return [e for e in self.log if e[2] != "/v1/services" and (path is None or e[2] == path)]

    def client(self, **overrides: Any) -> Client:
        settings = ClientSettings(**{"url": (ROOT,), "token": "tok", **overrides})
        return Client(
            settings,
            transport=httpx.MockTransport(self.handle),
            sleep=self.sleeps.append,
            clock=lambda: self.now,
            rng=random.Random(7),
        )


@pytest.fixture
def cluster() -> FakeCluster:
    return FakeCluster()
