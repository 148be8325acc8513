"""The client address romanad audits and throttles is the TCP peer, never a header.

Found probing a fresh install: uvicorn trusted ``X-Forwarded-For`` from any caller on
loopback, so a local user of romanad's machine (or anything that reaches it through
127.0.0.1) chose the ``source`` of its audit lines (``"source": "203.0.113.66"``) and got a
fresh per-address login allowance with every request, although docs/security.md says the
client address is the TCP peer. Now ``X-Forwarded-For`` and ``X-Forwarded-Proto`` are
ignored unless the peer is a proxy the operator named (``trusted_proxies``): the audit line
names the peer, and failures sent under many forged addresses all count against the one
address they came from.

A real romanad over SQLite with an audit log, and a per-user allowance of one failure (so an
address may fail four times before its window starts).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from romana.api.settings import RomanadSettings
from romana.core.errors import InvalidInput
from romana.lab.romanad import Romanad


@pytest.fixture(scope="module")
def romanad(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Romanad]:
    work = tmp_path_factory.mktemp("peer")
    daemon = Romanad(
        work, store=f"sqlite://{work}/romana.db", extra=["--audit-log", str(work / "audit.log")]
    )
    daemon.env["ROMANAD_LOGIN_FAILURES"] = "1"
    with daemon:
        yield daemon


def _fail_login(daemon: Romanad, user: str, forwarded: str) -> httpx.Response:
    return httpx.post(
        f"{daemon.url}/v1/auth/token",
        json={"username": user, "password": "not-the-password"},
        headers={"X-Forwarded-For": forwarded, "X-Forwarded-Proto": "https"},
        trust_env=False,
        timeout=10,
    )


def _audit(daemon: Romanad) -> list[dict[str, object]]:
    path = Path(daemon.workdir) / "audit.log"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_a_forwarded_header_does_not_name_the_source(romanad: Romanad) -> None:
    r = _fail_login(romanad, "secprobe-forger", "203.0.113.66")
    assert r.status_code == 401, r.text
    lines = [a for a in _audit(romanad) if a.get("user") == "secprobe-forger"]
    assert [a["source"] for a in lines] == ["127.0.0.1"], lines


def test_forged_addresses_share_the_peers_login_allowance(romanad: Romanad) -> None:
    """Each failure is for another user (no per-user window) and claims another address: all
    count against 127.0.0.1, whose window starts after four times the per-user allowance."""
    statuses = [
        _fail_login(romanad, f"secprobe-spray{i}", f"198.51.100.{i}").status_code
        for i in range(1, 9)
    ]
    assert 429 in statuses, statuses
    refused = [a for a in _audit(romanad) if a.get("status") == 429]
    assert refused and all(a["source"] == "127.0.0.1" for a in refused), refused


def test_a_proxy_the_operator_names_gives_the_client_address(tmp_path: Path) -> None:
    """Behind a reverse proxy named in ``trusted_proxies`` (here the loopback peer), its
    X-Forwarded-For is the client the audit log names; the same header from any other peer
    stays ignored (the module's fixture)."""
    daemon = Romanad(
        tmp_path,
        store=f"sqlite://{tmp_path}/romana.db",
        extra=["--audit-log", str(tmp_path / "audit.log"), "--trusted-proxies", "127.0.0.1"],
    )
    with daemon:
        assert _fail_login(daemon, "secprobe-behind", "203.0.113.66").status_code == 401
        lines = [a for a in _audit(daemon) if a.get("user") == "secprobe-behind"]
        assert [a["source"] for a in lines] == ["203.0.113.66"], lines


def test_a_trusted_proxy_must_be_an_ip_address() -> None:
    with pytest.raises(InvalidInput) as refused:
        RomanadSettings(trusted_proxies=("127.0.0.1", "proxy.example")).validate()
    assert [(i.field, i.rule) for i in refused.value.issues] == [
        ("trusted_proxies", "'proxy.example' is not an IP address")
    ]
