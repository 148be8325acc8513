"""A live romanad for the HTTP tests, and helpers to talk to it.

One romanad process per test module (started by PID on a free loopback port, over a SQLite
file in a temporary directory, stopped by PID), with a small topology applied at start:
network ``pods`` 10.0.0.0/8 with two racks, hosts ``h1`` (rack a) and ``h2`` (rack b).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from romana.lab import topologies
from romana.lab.romanad import Romanad

TOPOLOGY: dict[str, Any] = topologies.pods(racks=("a", "b"))


class Api:
    """A running romanad with an admin session."""

    def __init__(self, daemon: Romanad) -> None:
        self.daemon = daemon
        self.url = daemon.url
        user, password = daemon.admin()
        self.admin = self.client(self.login(user, password))

    def login(self, username: str, password: str) -> str:
        return self.daemon.login(username, password)

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, trust_env=False)

    def user(
        self, username: str, role: str, tenant: str | None = None, host: str | None = None
    ) -> httpx.Client:
        """A client logged in as a new user with ``role`` (an agent user bound to ``host``)."""
        password = f"{username}-password"
        body = {"username": username, "password": password, "role": role}
        if host is not None:
            body["host"] = host
        if tenant is not None:
            body["tenant"] = tenant
            # A tenant user needs its tenant; create it unless it exists.
            created = self.admin.post("/v1/tenants", json={"name": tenant})
            assert created.status_code in (201, 409), created.text
        response = self.admin.post("/v1/users", json=body)
        assert response.status_code == 201, response.text
        return self.client(self.login(username, password))


def start(workdir: Path, **kwargs: Any) -> Romanad:
    topo = workdir / "topology.json"
    topo.write_text(json.dumps(TOPOLOGY))
    extra = [*kwargs.pop("extra", ()), "--initial-topology", str(topo)]
    return Romanad(
        workdir, store=f"sqlite://{workdir / 'romana.db'}", extra=extra, **kwargs
    ).start()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    daemon = start(tmp_path_factory.mktemp("romanad"))
    try:
        a = Api(daemon)
        for name, rack, ip in (("h1", "a", "192.0.2.1"), ("h2", "b", "192.0.2.2")):
            r = a.admin.post(
                "/v1/hosts",
                json={
                    "name": name,
                    "ip": ip,
                    "labels": {"rack": rack},
                },
            )
            assert r.status_code == 201, r.text
        yield a
    finally:
        daemon.stop()
