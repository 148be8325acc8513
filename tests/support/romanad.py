"""romanad in tests: a fixture factory over :class:`romana.lab.romanad.Romanad`, and raw calls.

:func:`sqlite_fixture` makes a pytest fixture of one romanad over a temporary SQLite file,
:func:`admin_fixture` one of a client logged in as its admin;
:class:`AdminCalls` makes raw HTTP calls as any token, for tests of authorization.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import httpx
import pytest

from romana.client import Client, ClientSettings
from romana.lab.romanad import Romanad


def sqlite_fixture(
    tmp_name: str, *, scope: Literal["module", "session"] = "module", **kwargs: Any
) -> Any:
    """A pytest fixture: one romanad (``kwargs`` as for :class:`Romanad`) over SQLite in a new
    temporary directory named after ``tmp_name``, started once per ``scope`` and stopped after.

    Assign it to the fixture's name in a test module or conftest: ``daemon = sqlite_fixture(...)``.
    """

    @pytest.fixture(scope=scope)
    def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Romanad]:
        work = tmp_path_factory.mktemp(tmp_name)
        with Romanad(work, store=f"sqlite://{work}/romana.db", **kwargs) as daemon:
            yield daemon

    return running


def admin_fixture(scope: Literal["module", "session"] = "module") -> Any:
    """A pytest fixture: a client of the ``romanad`` fixture, logged in as its admin."""

    @pytest.fixture(scope=scope)
    def admin(romanad: Romanad) -> Iterator[Client]:
        with Client(ClientSettings(url=(romanad.url,))) as client:
            client.login(*romanad.admin())
            yield client

    return admin


class AdminCalls:
    """Raw HTTP calls to a running romanad as any token, and as its admin: what tests of
    authorization use, so the status and body they assert on are romanad's own."""

    def __init__(self, daemon: Romanad) -> None:
        self.daemon = daemon
        self.admin = daemon.login(*daemon.admin())

    def call(self, token: str, method: str, path: str, payload: object = None) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.daemon.url}{path}",
            headers={"Authorization": f"Bearer {token}"},
            trust_env=False,
            timeout=30,
            json=payload,
        )

    def ok(self, method: str, path: str, payload: object = None) -> Any:
        """The admin's call, which must succeed; its JSON."""
        r = self.call(self.admin, method, path, payload)
        assert r.is_success, r.text
        return r.json()

    def agent_of(self, host: str, ip: str) -> str:
        """Register ``host`` (rack a) and an agent user bound to it; that agent's token."""
        self.ok("POST", "/v1/hosts", {"name": host, "ip": ip, "labels": {"rack": "a"}})
        user, password = f"agent-of-{host}", "agent-password-1"
        self.ok(
            "POST",
            "/v1/users",
            {"username": user, "password": password, "role": "agent"} | {"host": host},
        )
        return self.daemon.login(user, password)
