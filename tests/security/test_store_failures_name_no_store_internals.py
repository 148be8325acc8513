"""A failing store is answered without naming its file: not to ``/readyz``, which needs no
token, nor to a tenant user.

Found probing a fresh install: while another process held the SQLite store's write lock,
``GET /readyz`` without any token answered ``the store does not take a write: SQLite store
/var/lib/romana/romana.db is locked by another writer``, and so did every change a tenant
user made, handing anyone the path of the file that holds the signing key and every
password hash (and, on etcd, its endpoints and romanad's etcd user). Now ``/readyz`` names
which check failed and leaves the cause to romanad's log, and the SQLite store's errors name
no path; both stay 503 with ``Retry-After``.

A real romanad over SQLite; the lock is held by a second SQLite connection, as another
process would hold it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from romana.lab.romanad import Romanad
from support.romanad import AdminCalls
from unit.api.conftest import start


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AdminCalls, str, Path]]:
    work = tmp_path_factory.mktemp("storeleak")
    with start(work) as daemon:
        calls = AdminCalls(daemon)
        calls.ok("POST", "/v1/tenants", {"name": "ta"})
        user = {"username": "secprobe-ta", "password": "ta-password-1", "role": "tenant"}
        calls.ok("POST", "/v1/users", {**user, "tenant": "ta"})
        yield calls, daemon.login("secprobe-ta", "ta-password-1"), work


def _locked(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, isolation_level=None, timeout=10)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def test_readiness_and_refused_writes_name_no_path(world: tuple[AdminCalls, str, Path]) -> None:
    calls, tenant, work = world
    daemon: Romanad = calls.daemon
    db = work / "romana.db"
    lock = _locked(db)
    try:
        ready = httpx.get(f"{daemon.url}/readyz", trust_env=False, timeout=30)
        segment = calls.call(tenant, "POST", "/v1/tenants/ta/segments", {"name": "s1"})
    finally:
        lock.rollback()
        lock.close()
    assert ready.status_code == 503, ready.text
    assert "does not take a write" in ready.json()["detail"]
    assert "retry-after" in ready.headers
    assert segment.status_code == 503, segment.text
    for answer in (ready, segment):
        assert str(work) not in answer.text, answer.text
        assert "romana.db" not in answer.text, answer.text
    # The operator still finds the cause in romanad's log.
    assert "readiness: the store does not take a write" in daemon.log_tail(200)
    # The failed change changed nothing; once the lock is gone everything answers again.
    assert httpx.get(f"{daemon.url}/readyz", trust_env=False, timeout=30).status_code == 200
    assert "s1" not in calls.ok("GET", "/v1/tenants/ta")["segments"]
