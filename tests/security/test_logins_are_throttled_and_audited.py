"""Logins are throttled and audited (issue 12, point 10).

300 wrong passwords in parallel used to run 300 scrypt checks (16 MiB each) at once: RSS
doubled, other requests took a second, and nothing was logged. Now a real romanad (default
login settings: 2 checks at once, 5 free failures per user) answers most of them 429 with
``Retry-After`` without running scrypt, keeps its memory and ``/healthz`` bounded, lets the
right password in once the window ends, and writes one JSON audit line per login attempt,
per 401 and 403, and per change, to the ``--audit-log`` file (mode 0600).

A change's line names the object it changed: what a creation created (``users/bob``, not the
collection ``users``), a policy by its resolved id (``policies/ta/p1`` when deleted as
``p1``). Only a 2xx answer is a change: a redirect is not one, nor a line with no caller.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from romana.lab.romanad import Romanad
from unit.api.conftest import start

ATTEMPTS = 300
PASSWORD = "alice-secret-1"


class Daemon:
    def __init__(self, daemon: Romanad, audit: Path) -> None:
        self.daemon = daemon
        self.url = daemon.url
        self.audit = audit
        self.admin = daemon.admin_token()

    def rss_kib(self) -> int:
        assert self.daemon.process is not None
        status = Path(f"/proc/{self.daemon.process.pid}/status").read_text()
        line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
        return int(line.split()[1])

    def audit_lines(self) -> list[dict[str, Any]]:
        lines = self.audit.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def create_user(self, name: str, password: str, role: str = "service") -> None:
        response = httpx.post(
            f"{self.url}/v1/users",
            json={"username": name, "password": password, "role": role},
            headers={"Authorization": f"Bearer {self.admin}"},
            trust_env=False,
        )
        assert response.status_code == 201, response.text


@pytest.fixture(scope="module")
def romanad(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    workdir = tmp_path_factory.mktemp("romanad")
    audit = workdir / "audit.log"
    # The initial topology lets the audit test allocate; it is applied without a request.
    with start(workdir, extra=["--audit-log", str(audit)]) as daemon:
        yield Daemon(daemon, audit)


BURST = """
import asyncio, json, sys
import httpx

async def main(url, username, attempts):
    limits = httpx.Limits(max_connections=attempts, max_keepalive_connections=attempts)
    async with httpx.AsyncClient(timeout=60, limits=limits, trust_env=False) as http:
        responses = await asyncio.gather(*(
            http.post(f"{url}/v1/auth/token", json={"username": username, "password": f"w{i}"})
            for i in range(attempts)
        ))
    return [
        [r.status_code, r.headers.get("retry-after"), r.json().get("detail", "")]
        for r in responses
    ]

print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))))
"""


def _wrong_logins(url: str, username: str) -> list[tuple[int, str | None, str]]:
    """The burst runs in a process of its own, so its CPU does not slow the /healthz probe."""
    argv = [sys.executable, "-c", BURST, url, username, str(ATTEMPTS)]
    done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120)
    return [(int(s), after, detail) for s, after, detail in json.loads(done.stdout)]


def test_parallel_wrong_passwords_are_throttled(romanad: Daemon) -> None:
    romanad.create_user("alice", PASSWORD)
    romanad.daemon.login("alice", PASSWORD)  # warm: one scrypt has run
    baseline = romanad.rss_kib()
    peak = baseline
    slowest = 0.0
    done = threading.Event()

    def watch() -> None:
        nonlocal peak, slowest
        with httpx.Client(timeout=5, trust_env=False) as http:
            while not done.is_set():
                started = time.monotonic()
                assert http.get(f"{romanad.url}/healthz").status_code == 200
                slowest = max(slowest, time.monotonic() - started)
                peak = max(peak, romanad.rss_kib())
                time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.monotonic()
    try:
        responses = _wrong_logins(romanad.url, "alice")
    finally:
        done.set()
        watcher.join()
    elapsed = time.monotonic() - started

    statuses = [status for status, _, _ in responses]
    throttled = [r for r in responses if r[0] == 429]
    assert set(statuses) <= {401, 429}, statuses
    assert len(throttled) >= ATTEMPTS - 20, f"{statuses.count(401)} of {ATTEMPTS} ran scrypt"
    for _, after, detail in throttled:
        assert after is not None and int(after) >= 1
        assert "retry in" in detail
    assert elapsed < 10, f"{ATTEMPTS} refused logins took {elapsed:.1f} s"
    assert slowest < 0.5, f"/healthz took {slowest:.2f} s during the burst"
    grown = (peak - baseline) // 1024
    assert grown < 64, f"RSS grew by {grown} MiB ({baseline // 1024} → {peak // 1024} MiB)"

    print(
        f"\n{ATTEMPTS} wrong logins: {statuses.count(401)} checked (401), {len(throttled)} "
        f"throttled (429) in {elapsed:.2f} s; /healthz at most {slowest * 1000:.0f} ms; "
        f"RSS {baseline // 1024} → {peak // 1024} MiB"
    )
    # One more failure, once the window allows a check, opens a longer window: then even
    # the right password is refused, without a check, until Retry-After has passed.
    extra = 1
    while (
        wrong := httpx.post(
            f"{romanad.url}/v1/auth/token",
            json={"username": "alice", "password": "still-wrong"},
            trust_env=False,
        )
    ).status_code == 429:
        extra += 1
        time.sleep(int(wrong.headers["Retry-After"]))
    assert wrong.status_code == 401, wrong.text
    refused = httpx.post(
        f"{romanad.url}/v1/auth/token",
        json={"username": "alice", "password": PASSWORD},
        trust_env=False,
    )
    assert refused.status_code == 429, refused.text
    assert int(refused.headers["Retry-After"]) >= 2
    time.sleep(int(refused.headers["Retry-After"]))
    romanad.daemon.login("alice", PASSWORD)  # asserts 200; resets alice's counter
    romanad.daemon.login("alice", PASSWORD)

    failed = [
        line
        for line in romanad.audit_lines()
        if line["event"] == "login_failed" and line["user"] == "alice"
    ]
    assert len(failed) == ATTEMPTS + extra + 1  # every attempt, the refused right one too
    assert all(
        line["source"] == "127.0.0.1" and line["path"] == "/v1/auth/token" for line in failed
    )
    assert sorted({line["status"] for line in failed}) == sorted(set(statuses) | {429})


def test_every_login_refusal_and_change_is_one_audit_line(romanad: Daemon) -> None:
    mode = stat.S_IMODE(romanad.audit.stat().st_mode)
    assert mode == 0o600, oct(mode)
    romanad.create_user("bob", "bob-secret-12")
    bob = romanad.daemon.login("bob", "bob-secret-12")
    with httpx.Client(base_url=romanad.url, trust_env=False) as http:
        assert http.get("/v1/users").status_code == 401
        assert http.post("/v1/users", json={"username": "x"}).status_code == 401
        denied = http.delete("/v1/users/admin", headers={"Authorization": f"Bearer {bob}"})
        assert denied.status_code == 403
        assert http.post("/v1/auth/token", json={"username": "bob", "password": "nope-nope"})
        http.get("/v1/users", headers={"Authorization": f"Bearer {romanad.admin}"})

    lines = romanad.audit_lines()
    for line in lines:
        assert set(line) == {
            "ts",
            "event",
            "user",
            "role",
            "source",
            "method",
            "path",
            "object",
            "status",
        }
        assert line["source"] == "127.0.0.1"
    simple = [
        (x["event"], x["user"], x["role"], x["method"], x["path"], x["object"], x["status"])
        for x in lines
    ]
    assert ("change", "admin", "admin", "POST", "/v1/users", "users/bob", 201) in simple
    assert ("login", "bob", "service", "POST", "/v1/auth/token", "auth/token", 200) in simple
    assert ("unauthorized", None, None, "GET", "/v1/users", "users", 401) in simple
    assert ("unauthorized", None, None, "POST", "/v1/users", "users", 401) in simple
    assert (
        "forbidden",
        "bob",
        "service",
        "DELETE",
        "/v1/users/admin",
        "users/admin",
        403,
    ) in simple
    assert ("login_failed", "bob", None, "POST", "/v1/auth/token", "auth/token", 401) in simple
    # Reads are not changes; a login is one line, not also a change or an unauthorized.
    assert not any(x[0] == "change" and x[3] == "GET" for x in simple)
    assert not any(x[0] in ("change", "unauthorized") and x[4] == "/v1/auth/token" for x in simple)
    text = romanad.audit.read_text()
    assert "bob-secret-12" not in text and "nope-nope" not in text and bob not in text


def test_a_change_names_the_object_it_changed_and_a_redirect_is_no_change(
    romanad: Daemon,
) -> None:
    policy = {
        "name": "p1",
        "applied_to": [{"tenant": "ta"}],
        "ingress": [{"peers": [{"peer": "any"}], "rules": [{"protocol": "tcp", "ports": [80]}]}],
    }
    admin = {"Authorization": f"Bearer {romanad.admin}"}
    with httpx.Client(base_url=romanad.url, headers=admin, trust_env=False) as http:
        calls = [
            ("POST", "/v1/tenants", {"name": "ta"}),
            ("POST", "/v1/hosts", {"name": "h1", "ip": "192.0.2.1", "labels": {"rack": "a"}}),
            ("POST", "/v1/allocations", {"key": "pod-1", "host": "h1", "tenant": "ta"}),
            ("POST", "/v1/allocations", {"key": "pod-2", "host": "h1", "tenant": "ta"}),
            ("POST", "/v1/policies", policy),
            (
                "POST",
                "/v1/users",
                {"username": "carol", "password": "pw-carol-1", "role": "service"},
            ),
        ]
        for method, path, body in calls:
            response = http.request(method, path, json=body)
            assert response.status_code == 201, response.text
        address = http.get("/v1/allocations/pod-2").json()["addresses"][0]
        assert http.delete(f"/v1/addresses/{address}").status_code == 200
        assert http.delete("/v1/policies/p1").status_code == 200
        redirected = http.post("/v1/auth/token/", json={"username": "x", "password": "y"})
        assert redirected.status_code == 307, redirected.text

    changes = [
        (x["method"], x["path"], x["object"], x["user"])
        for x in romanad.audit_lines()
        if x["event"] == "change"
    ]
    for expected in [
        ("POST", "/v1/tenants", "tenants/ta"),
        ("POST", "/v1/hosts", "hosts/h1"),
        ("POST", "/v1/allocations", "allocations/pod-1"),
        ("POST", "/v1/policies", "policies/ta/p1"),
        ("POST", "/v1/users", "users/carol"),
        ("DELETE", f"/v1/addresses/{address}", "allocations/pod-2"),
        ("DELETE", "/v1/policies/p1", "policies/ta/p1"),
    ]:
        assert (*expected, "admin") in changes, changes
    assert not any(path == "/v1/auth/token/" for _, path, _, _ in changes), changes
    assert all(user is not None for *_, user in changes), changes
