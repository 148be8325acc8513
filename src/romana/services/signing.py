"""Token signing keys: one key signs, every key not yet retired verifies.

The key set lives at ``auth/signing-key`` so every replica sharing the store signs and
verifies alike::

    {"alg": "HS256", "key": <current, base64url>, "created": <epoch s>,
     "previous": [{"key": ..., "created": ..., "retire_at": <epoch s>}, ...]}

(The record of releases before rotation has only ``alg`` and ``key``; it reads as a key set
with one current key and nothing previous.) Keys are identified by a fingerprint (the first
16 hex digits of their SHA-256), never shown themselves.

Invariants:

* Exactly one current key signs. :meth:`KeyRing.rotate` makes a fresh current key and keeps
  the one it replaces for verification until ``rotation time + token TTL``, when every token
  it signed has expired (no token outlives the TTL, see ``AuthService.mint``); so rotating
  logs nobody out. ``retire_now`` drops every old key at once instead (a leaked key).
* Signing reads the key set from the store every time (signing follows a login, which costs
  a scrypt hash anyway), so a rotation on any replica changes what every replica signs with
  at once.
* Verifying uses a copy at most :data:`REFRESH` seconds old, re-read at once when a signature
  matches none of its keys: a token signed with a key created elsewhere verifies on the first
  try, and a key retired elsewhere stops verifying here within ``REFRESH`` seconds. A valid
  token therefore costs no store read for its key; a forged one costs one.
* :func:`unb64` is strict: only the canonical unpadded base64url text of some bytes decodes,
  so a token with characters appended or changed never verifies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from romana.core.store import Compare, KeyValue, Put, Store
from romana.services import keys, txn

SIGNING_KEY = keys.AUTH + "signing-key"
REFRESH = 5.0
"""Seconds a process verifies with its copy of the key set before reading it again."""

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    """The bytes whose :func:`b64` is exactly ``text``; ValueError for anything else
    (padding, characters outside the alphabet, non-zero trailing bits, impossible lengths)."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64(data) != text:
        raise ValueError("not canonical base64url")
    return data


def _new_key() -> str:
    return b64(secrets.token_bytes(32))


@dataclass(frozen=True, slots=True)
class SigningKey:
    key: bytes
    created: float | None
    """When it was made; None for a key made before rotation existed."""
    retire_at: float | None
    """When it stops verifying; None for the current key."""

    @property
    def id(self) -> str:
        return hashlib.sha256(self.key).hexdigest()[:16]

    def active(self, now: float) -> bool:
        return self.retire_at is None or now < self.retire_at

    def sign(self, body: bytes) -> bytes:
        return hmac.digest(self.key, body, "sha256")

    def to_dict(self) -> dict[str, Any]:
        """The public form: fingerprint and dates, never the key."""
        return {
            "id": self.id,
            "current": self.retire_at is None,
            "created": self.created,
            "retire_at": self.retire_at,
        }


def _parse(raw: dict[str, Any]) -> list[SigningKey]:
    """Current key first, then the previous ones, newest first."""
    created = raw.get("created")
    found = [SigningKey(unb64(raw["key"]), created, None)]
    for old in raw.get("previous", []):
        found.append(SigningKey(unb64(old["key"]), old.get("created"), float(old["retire_at"])))
    return found


class KeyRing:
    """The key set of one store, as one process sees it; thread-safe (module docstring)."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._clock = clock
        self._monotonic = monotonic
        self._copy: tuple[float, list[SigningKey]] = (float("-inf"), [])
        """(monotonic time it was read, keys): replaced whole, so threads need no lock."""

    def sign(self, body: bytes) -> bytes:
        """HMAC-SHA256 of ``body`` with the current key, as stored now."""
        return self._load()[0].sign(body)

    def verify(self, body: bytes, signature: bytes) -> bool:
        """Whether a key not yet retired signed ``body`` as ``signature``."""
        loaded_at, cached = self._copy
        fresh = self._monotonic() - loaded_at >= REFRESH
        candidates = self._load() if fresh else cached
        if self._matches(candidates, body, signature):
            return True
        # Perhaps another replica rotated since this copy was read: read once more.
        return not fresh and self._matches(self._load(), body, signature)

    def active(self) -> list[SigningKey]:
        """Every key that still verifies, current first."""
        now = self._clock()
        return [k for k in self._load() if k.active(now)]

    def rotate(self, ttl: float, *, retire_now: bool = False) -> list[SigningKey]:
        """Make a new current key; the old one verifies ``ttl`` more seconds (or none, with
        ``retire_now``). Keys past their retirement are dropped. Returns :meth:`active`."""

        def attempt(w: txn.Writes) -> None:
            kv = self._store.get(SIGNING_KEY)
            now = self._clock()
            previous: list[dict[str, Any]] = []
            if kv is not None and not retire_now:
                raw = txn.loads(kv)
                old = {"key": raw["key"], "created": raw.get("created"), "retire_at": now + ttl}
                previous.append(old)
                previous += [p for p in raw.get("previous", []) if float(p["retire_at"]) > now]
            record = {"alg": "HS256", "key": _new_key(), "created": now, "previous": previous}
            w.guard(SIGNING_KEY, kv)
            w.ops.append(Put(SIGNING_KEY, txn.dumps(record)))

        txn.run(self._store, attempt, what="rotate the token signing key")
        return self.active()

    # -- helpers -------------------------------------------------------------------------

    def _matches(self, candidates: list[SigningKey], body: bytes, signature: bytes) -> bool:
        now = self._clock()
        for k in candidates:
            if k.active(now) and hmac.compare_digest(k.sign(body), signature):
                return True
        return False

    def _load(self) -> list[SigningKey]:
        kv = self._store.get(SIGNING_KEY) or self._create()
        loaded = _parse(txn.loads(kv))
        self._copy = (self._monotonic(), loaded)
        return loaded

    def _create(self) -> KeyValue:
        fresh = {"alg": "HS256", "key": _new_key(), "created": self._clock(), "previous": []}
        # Create-if-absent: of concurrent first starts exactly one key wins.
        self._store.txn([Compare(SIGNING_KEY, 0)], [Put(SIGNING_KEY, txn.dumps(fresh))])
        kv = self._store.get(SIGNING_KEY)
        assert kv is not None
        return kv
