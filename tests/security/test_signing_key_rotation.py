"""The token signing key rotates without downtime.

Issue 12, point 5: the signing key never changed. Now an admin rotates it (``POST
/v1/auth/signing-keys``, ``romana signing-key rotate``) while every replica keeps serving:
tokens signed before keep working until they expire, tokens issued afterwards, by any replica,
are signed with the new key and verify everywhere at once; ``retire_now`` (a leaked key)
refuses every older token instead.

Two real romanad replicas over one SQLite file.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from romana.lab.romanad import Romanad
from romana.services import signing
from romana.store import open_store
from unit.api.conftest import start
from unit.cli.conftest import Cli


class Pair:
    def __init__(self, work: Path, one: Romanad, two: Romanad) -> None:
        self.work, self.one, self.two = work, one, two
        self.user, self.password = one.admin()

    def login(self, at: Romanad) -> str:
        return at.login(self.user, self.password)

    def call(
        self, at: Romanad, token: str, method: str, path: str, payload: object = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.request(
            method,
            f"{at.url}{path}",
            headers=headers,
            trust_env=False,
            json=payload,
        )

    def statuses(self, token: str) -> list[int]:
        return [self.call(r, token, "GET", "/v1/users").status_code for r in (self.one, self.two)]

    def stored_keys(self) -> tuple[bytes, list[bytes]]:
        """The current and previous keys, read from the store file as a replica does."""
        st = open_store(f"sqlite://{self.work / 'romana.db'}")
        try:
            kv = st.get(signing.SIGNING_KEY)
            assert kv is not None
            raw = json.loads(kv.value)
        finally:
            st.close()
        previous = [signing.unb64(p["key"]) for p in raw.get("previous", [])]
        return signing.unb64(raw["key"]), previous


def _signed_by(token: str, key: bytes) -> bool:
    body, signature = token.split(".")
    return hmac.compare_digest(
        hmac.digest(key, body.encode(), hashlib.sha256), signing.unb64(signature)
    )


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    with start(tmp_path) as one, one.replica() as two:
        yield Pair(tmp_path, one, two)


def test_rotation_keeps_old_tokens_and_signs_new_ones_with_the_new_key(pair: Pair) -> None:
    old = pair.login(pair.one)
    old_key, _ = pair.stored_keys()
    assert _signed_by(old, old_key)
    before = pair.call(pair.one, old, "GET", "/v1/auth/signing-keys").json()
    assert [k["current"] for k in before] == [True]

    r = pair.call(pair.one, old, "POST", "/v1/auth/signing-keys", payload={})
    assert r.status_code == 200, r.text
    after = r.json()
    assert [k["current"] for k in after] == [True, False]
    assert after[1]["id"] == before[0]["id"] != after[0]["id"]
    assert after[1]["retire_at"] >= time.time() + 86400 - 60  # the token TTL
    assert "key" not in json.dumps(after).replace('"id"', "")

    # No downtime: the old token works on both replicas, before and after the new ones.
    assert pair.statuses(old) == [200, 200]
    new_key, previous = pair.stored_keys()
    assert previous == [old_key] and new_key != old_key
    for at in (pair.two, pair.one):
        fresh = pair.login(at)
        assert _signed_by(fresh, new_key) and not _signed_by(fresh, old_key)
        assert pair.statuses(fresh) == [200, 200]
    assert pair.statuses(old) == [200, 200]


def test_retire_now_refuses_every_older_token_on_every_replica(pair: Pair) -> None:
    old = pair.login(pair.one)
    assert pair.statuses(old) == [200, 200]
    r = pair.call(pair.two, old, "POST", "/v1/auth/signing-keys", payload={"retire_now": True})
    assert r.status_code == 200, r.text
    assert [k["current"] for k in r.json()] == [True]
    assert pair.call(pair.two, old, "GET", "/v1/users").status_code == 401
    # The other replica re-reads its copy of the keys within signing.REFRESH seconds.
    deadline = time.monotonic() + signing.REFRESH + 5
    while pair.statuses(old) != [401, 401] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pair.statuses(old) == [401, 401]
    assert pair.statuses(pair.login(pair.one)) == [200, 200]


def test_only_admins_see_or_rotate_keys(pair: Pair) -> None:
    admin = pair.login(pair.one)
    body = {"username": "svc", "password": "svc-password", "role": "service"}
    assert pair.call(pair.one, admin, "POST", "/v1/users", payload=body).status_code == 201
    service = pair.one.login("svc", "svc-password")
    assert pair.call(pair.one, service, "GET", "/v1/auth/signing-keys").status_code == 403
    assert pair.call(pair.one, service, "POST", "/v1/auth/signing-keys").status_code == 403
    assert len(pair.call(pair.one, admin, "GET", "/v1/auth/signing-keys").json()) == 1


def test_romana_signing_key_rotate_and_list(pair: Pair, tmp_path: Path) -> None:
    romana = Cli.at(pair.one.url, tmp_path / "cli")
    login = romana("login", "-u", pair.user, "-p", pair.password)
    assert login.exit_code == 0, login.output
    rotated = romana("signing-key", "rotate", "-o", "json")
    assert rotated.exit_code == 0, rotated.output
    assert [k["current"] for k in json.loads(rotated.output)] == [True, False]
    listed = romana("signing-key", "list")
    assert listed.exit_code == 0, listed.output
    assert json.loads(rotated.output)[0]["id"] in listed.output
    # The CLI's own token, signed with the replaced key, still works.
    assert romana("user", "list").exit_code == 0


def test_a_replaced_key_stops_verifying_when_its_tokens_have_expired(tmp_path: Path) -> None:
    d = Romanad(tmp_path, store=f"sqlite://{tmp_path / 'romana.db'}")
    d.env["ROMANAD_TOKEN_TTL"] = "2"
    with d:
        pair = Pair(tmp_path, d, d)
        token = pair.login(d)
        keys = pair.call(d, token, "POST", "/v1/auth/signing-keys").json()
        assert len(keys) == 2 and keys[1]["retire_at"] <= time.time() + 2
        assert pair.call(d, token, "GET", "/v1/users").status_code == 200
        time.sleep(2.2)
        assert pair.call(d, token, "GET", "/v1/users").status_code == 401
        fresh = pair.login(d)
        listed = pair.call(d, fresh, "GET", "/v1/auth/signing-keys").json()
        assert [k["id"] for k in listed] == [keys[0]["id"]]
