"""A lost store never becomes a fresh install; readiness says whether the store takes writes.

romanad that ran on a store, stopped, and finds that store truncated to 0 bytes (or any store
that is empty while its admin credential file exists) refuses to start, naming both paths,
instead of applying the initial topology again and forgetting every tenant and host.
``/healthz`` stays liveness; ``/readyz`` answers 200 while the store answers a read and takes
a write, and 503 while it does not: here another process holds the store's write lock, which
stops root as much as anyone (file modes do not).
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import httpx

from romana.lab import topologies
from romana.lab.romanad import Romanad


def romanad(tmp_path: Path) -> tuple[Romanad, Path]:
    topology = tmp_path / "topology.json"
    topology.write_text(json.dumps(topologies.pods()))
    db = tmp_path / "state" / "romana.db"
    daemon = Romanad(
        tmp_path,
        store=f"sqlite:///{db}",
        credentials=tmp_path / "state" / "admin.credentials",
        extra=["--initial-topology", str(topology)],
    )
    return daemon, db


def test_a_truncated_store_with_credentials_refuses_to_start(tmp_path: Path) -> None:
    daemon, db = romanad(tmp_path)
    daemon.start()
    user, password = daemon.admin()
    with httpx.Client(base_url=daemon.url, trust_env=False) as http:
        auth = {"Authorization": f"Bearer {daemon.login(user, password)}"}
        created = http.post("/v1/tenants", json={"name": "blue"}, headers=auth)
        assert created.status_code == 201, created.text
    daemon.stop()

    db.write_bytes(b"")
    daemon.spawn()
    assert daemon.process is not None
    assert daemon.process.wait(20) == 1
    log = daemon.log_path.read_text()
    refusal = next(line for line in log.splitlines() if "is empty" in line)
    assert str(db) in refusal
    assert str(daemon.credentials) in refusal
    assert "restore the store" in refusal.lower()
    # Nothing was started afresh: the store is still empty, the credentials unchanged.
    assert db.stat().st_size == 0 or _keys(db) == 0
    assert daemon.admin() == (user, password)


def _keys(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM kv").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def test_readyz_needs_a_writable_store_while_healthz_stays_liveness(tmp_path: Path) -> None:
    daemon, db = romanad(tmp_path)
    daemon.start()
    try:
        with httpx.Client(base_url=daemon.url, trust_env=False, timeout=20.0) as http:
            ready = http.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["status"] == "ready"

            # Another process takes the store's write lock and keeps it: reads still work.
            holder = sqlite3.connect(db, timeout=0, isolation_level=None)
            try:
                holder.execute("BEGIN IMMEDIATE")
                started = time.monotonic()
                blocked = http.get("/readyz")
                assert blocked.status_code == 503, blocked.text
                assert blocked.headers["content-type"].startswith("application/problem+json")
                assert "does not take a write" in blocked.json()["detail"]
                assert "Retry-After" in blocked.headers
                assert time.monotonic() - started < 15
                assert http.get("/healthz").status_code == 200
            finally:
                holder.execute("ROLLBACK")
                holder.close()

            assert http.get("/readyz").status_code == 200
    finally:
        daemon.stop()
