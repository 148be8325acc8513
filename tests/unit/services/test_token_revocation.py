"""Tokens end when they must: revocation by generation, strict decoding, finite lifetimes,
and signing keys that rotate without logging anybody out."""

from __future__ import annotations

import base64
import json
import math

import pytest

from romana.core.errors import Forbidden, InvalidInput, Unauthorized
from romana.core.identifiers import TenantName
from romana.core.store import Put, Store
from romana.services import auth, keys, signing, txn
from romana.services.auth import AuthService, Role


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _svc(store: Store, **kwargs: object) -> AuthService:
    svc = AuthService(store, **kwargs)  # type: ignore[arg-type]
    web = {"name": "web", "external_id": "", "ids": {}, "uid": "web-uid"}
    store.txn([], [Put(keys.tenant(TenantName("web")), txn.dumps(web))])
    svc.create_user("admin", "admin-pw-1", "admin")
    svc.create_user("alice", "alice-pw-1", "tenant", TenantName("web"))
    return svc


# -- revocation ------------------------------------------------------------------------------


def test_a_password_change_revokes_every_token_of_that_user_only(store: Store) -> None:
    svc = _svc(store)
    first, second = svc.login("alice", "alice-pw-1").token, svc.login("alice", "alice-pw-1").token
    admin = svc.login("admin", "admin-pw-1").token
    svc.set_password("alice", "alice-pw-2")
    for token in (first, second):
        with pytest.raises(Unauthorized, match="revoked"):
            svc.verify(token)
    assert svc.verify(admin).username == "admin"
    assert svc.verify(svc.login("alice", "alice-pw-2").token).username == "alice"


def test_changing_ones_own_password_needs_the_current_one(store: Store) -> None:
    svc = _svc(store)
    token = svc.login("alice", "alice-pw-1").token
    with pytest.raises(Forbidden, match="current password"):
        svc.set_password("alice", "alice-pw-2", current="wrong-pw-1")
    assert svc.verify(token).username == "alice"  # nothing changed
    svc.set_password("alice", "alice-pw-2", current="alice-pw-1")
    with pytest.raises(Unauthorized, match="revoked"):
        svc.verify(token)


def test_revoke_tokens_keeps_the_password(store: Store) -> None:
    svc = _svc(store)
    token = svc.login("alice", "alice-pw-1").token
    svc.revoke_tokens("alice")
    with pytest.raises(Unauthorized, match="revoked"):
        svc.verify(token)
    # Later logins work: revocation is of tokens minted so far.
    assert svc.verify(svc.login("alice", "alice-pw-1").token).role is Role.TENANT


def test_every_replica_sees_a_revocation_at_once(store: Store) -> None:
    one, two = _svc(store), AuthService(store)
    token = one.login("alice", "alice-pw-1").token
    assert two.verify(token).username == "alice"
    one.revoke_tokens("alice")
    with pytest.raises(Unauthorized, match="revoked"):
        two.verify(token)


def test_tokens_of_users_stored_before_generations_still_verify(store: Store) -> None:
    """A user record and a token of the release before: no generation anywhere means 0."""
    svc = _svc(store)
    kv = store.get(auth.user_key("alice"))
    assert kv is not None
    record = json.loads(kv.value)
    record.pop("generation", None)
    store.txn([], [Put(auth.user_key("alice"), json.dumps(record).encode())])
    payload = {"sub": "alice", "uid": record["uid"], "role": "tenant", "tenant": "web"}
    payload |= {"iat": 0, "exp": 2e9}
    body = signing.b64(json.dumps(payload).encode())
    key = signing.KeyRing(store)
    legacy = f"{body}.{signing.b64(key.sign(body.encode()))}"
    assert svc.verify(legacy).username == "alice"
    svc.revoke_tokens("alice")
    with pytest.raises(Unauthorized, match="revoked"):
        svc.verify(legacy)


# -- lifetimes -------------------------------------------------------------------------------


@pytest.mark.parametrize("ttl", [math.nan, math.inf, -math.inf, 0.0, -5.0])
def test_token_ttl_must_be_finite_and_positive(store: Store, ttl: float) -> None:
    with pytest.raises(InvalidInput, match="token_ttl: must be a finite number"):
        AuthService(store, token_ttl=ttl)


def test_no_token_outlives_the_ttl(store: Store) -> None:
    clock = Clock()
    svc = _svc(store, token_ttl=60.0, clock=clock)
    assert svc.mint(svc.get_user("alice"), ttl=3600.0).expires_at == clock.now + 60.0
    assert svc.mint(svc.get_user("alice"), ttl=10.0).expires_at == clock.now + 10.0


@pytest.mark.parametrize("exp", ["Infinity", "NaN", "1e999"])
def test_signed_tokens_without_a_finite_expiry_are_refused(store: Store, exp: str) -> None:
    svc = _svc(store)
    user = svc.get_user("alice")
    claims = f'"gen":0,"iat":0,"role":"tenant","sub":"alice","tenant":"web","uid":"{user.uid}"'
    text = f'{{"exp":{exp},{claims}}}'
    body = signing.b64(text.encode())
    token = f"{body}.{signing.b64(signing.KeyRing(store).sign(body.encode()))}"
    with pytest.raises(Unauthorized):
        svc.verify(token)


# -- strict decoding -------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["=", "==", "***", "$", " ", "\n", ".", "A", "%3D"])
def test_anything_appended_to_a_token_is_refused(store: Store, suffix: str) -> None:
    svc = _svc(store)
    token = svc.login("alice", "alice-pw-1").token
    svc.verify(token)
    with pytest.raises(Unauthorized):
        svc.verify(token + suffix)
    body, sig = token.split(".")
    with pytest.raises(Unauthorized):
        svc.verify(f"{body}{suffix}.{sig}")


def test_only_canonical_base64url_decodes() -> None:
    data = bytes(range(7))
    text = signing.b64(data)
    assert signing.unb64(text) == data
    last = text[-1]
    # Same bytes with other unused low bits: another text, refused.
    other = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    sibling = next(
        c for c in other if c != last and base64.urlsafe_b64decode(text[:-1] + c + "==") == data
    )
    for bad in (text + "=", text + "==", text[:-1] + sibling, text + "+", "A", "a/b_", "ä"):
        with pytest.raises(ValueError):
            signing.unb64(bad)


def test_oversized_tokens_are_refused_before_decoding(store: Store) -> None:
    svc = _svc(store)
    with pytest.raises(Unauthorized, match="malformed"):
        svc.verify("A" * (auth.MAX_TOKEN + 1) + ".AAAA")


# -- signing keys ----------------------------------------------------------------------------


def test_rotation_keeps_old_tokens_until_they_expire_and_signs_new_ones_anew(
    store: Store,
) -> None:
    clock = Clock()
    svc = _svc(store, token_ttl=60.0, clock=clock)
    old = svc.login("alice", "alice-pw-1").token
    (before,) = svc.signing_keys()
    keys = svc.rotate_signing_key()
    assert [k.retire_at for k in keys] == [None, clock.now + 60.0]
    assert keys[1].id == before.id and keys[0].id != before.id
    new = svc.login("alice", "alice-pw-1").token
    assert svc.verify(old).username == svc.verify(new).username == "alice"
    body, sig = new.split(".")
    assert signing.unb64(sig) == keys[0].sign(body.encode())
    clock.now += 61
    assert [k.id for k in svc.signing_keys()] == [keys[0].id]
    with pytest.raises(Unauthorized):  # its key is retired, and it has expired
        svc.verify(old)


def test_a_retired_key_verifies_nothing_even_with_a_later_expiry(store: Store) -> None:
    clock = Clock()
    ring = signing.KeyRing(store, clock=clock)
    ring.sign(b"x")
    old = ring.active()[0]
    ring.rotate(60.0)
    assert ring.verify(b"body", old.sign(b"body"))
    clock.now += 60
    assert not ring.verify(b"body", old.sign(b"body"))


def test_retire_now_refuses_every_older_token(store: Store) -> None:
    svc = _svc(store)
    old = svc.login("alice", "alice-pw-1").token
    svc.rotate_signing_key()
    middle = svc.login("alice", "alice-pw-1").token
    assert len(svc.rotate_signing_key(retire_now=True)) == 1
    for token in (old, middle):
        with pytest.raises(Unauthorized, match="signature"):
            svc.verify(token)
    assert svc.verify(svc.login("alice", "alice-pw-1").token).username == "alice"


def test_replicas_accept_new_keys_at_once_and_drop_retired_ones_within_the_refresh(
    store: Store,
) -> None:
    mono = Clock(0.0)
    one = signing.KeyRing(store)
    two = signing.KeyRing(store, monotonic=mono)
    old_sig = one.sign(b"body")
    assert two.verify(b"body", old_sig)
    one.rotate(60.0, retire_now=True)
    new_sig = one.sign(b"body")
    assert two.verify(b"body", new_sig)  # unknown signature: read the key set again
    assert not two.verify(b"body", old_sig)  # that read also dropped the retired key
    one.rotate(60.0, retire_now=True)
    assert two.verify(b"body", new_sig)  # its copy is fresh: no read
    mono.now += signing.REFRESH
    assert not two.verify(b"body", new_sig)


def test_the_key_record_of_the_release_before_rotation_still_verifies(store: Store) -> None:
    legacy = signing.b64(b"k" * 32)
    store.txn([], [Put(signing.SIGNING_KEY, json.dumps({"alg": "HS256", "key": legacy}).encode())])
    ring = signing.KeyRing(store)
    (key,) = ring.active()
    assert (key.key, key.created, key.retire_at) == (b"k" * 32, None, None)
    old_sig = key.sign(b"body")
    ring.rotate(60.0)
    assert ring.verify(b"body", old_sig)
    assert [k.to_dict()["current"] for k in ring.active()] == [True, False]
