"""Users, roles, signed tokens and the one authorisation rule.

Users live at ``auth/users/<username>``: role, tenant (tenant users only), a random ``uid``
fixed at creation, and a scrypt hash of the password (never the password). Tokens are
``<payload>.<signature>``: the payload is compact JSON ``{"sub", "uid", "role", "tenant",
"iat", "exp"}`` in unpadded base64url, the signature HMAC-SHA256 over the encoded payload with
the signing key.

Invariants:

* The signing key is 32 random bytes created once per store (create-if-absent), so every
  replica and every process sharing the store signs and verifies with the same key. It never
  changes afterwards, which is why a process may keep it once read.
* A token is accepted only when its signature verifies, it has not expired, and its user
  still exists with the same ``uid``; so deleting a user revokes its tokens, also when a new
  user of the same name is created later. Role and tenant come from the stored user, not
  from the token.
* Failed logins are indistinguishable: unknown user and wrong password give the same
  message and take the same time (a dummy hash is computed for unknown users).
* :func:`authorize` is the whole permission matrix; handlers never compare roles themselves.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from romana.core import tenancy
from romana.core.errors import AlreadyExists, Conflict, Forbidden, Issues, NotFound, Unauthorized
from romana.core.store import Compare, Delete, Put, Store
from romana.services import keys, txn

SIGNING_KEY = keys.AUTH + "signing-key"
USERS = keys.AUTH + "users/"
USERNAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.@-]{0,63}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
INTERNAL_USER = "romanad"
"""The service user every romanad process mints its own tokens for (root registration)."""

# scrypt with n=2**14, r=8 costs about 16 MiB and tens of milliseconds: cheap for a login,
# expensive for a guesser.
_SCRYPT = {"n": 1 << 14, "r": 8, "p": 1}


class Role(enum.StrEnum):
    ADMIN = "admin"
    SERVICE = "service"
    TENANT = "tenant"
    AGENT = "agent"


class Action(enum.StrEnum):
    READ = "read"
    """Read state; tenant-scoped when a tenant is named."""
    WRITE = "write"
    """Change state; tenant-scoped when a tenant is named."""
    ALLOCATE = "allocate"
    """Allocate or release addresses for a tenant."""
    REGISTER_HOST = "register-host"
    """Add a host or change its labels."""
    MANAGE_USERS = "manage-users"
    SET_ISOLATION = "set-isolation"
    """Change how a tenant's endpoints are isolated: admin only, since it opens or closes
    every endpoint of the tenant at once."""


@dataclass(frozen=True, slots=True)
class User:
    username: str
    role: Role
    tenant: str | None
    uid: str

    def to_dict(self) -> dict[str, Any]:
        """The public form (no uid, no password hash)."""
        return {"username": self.username, "role": str(self.role), "tenant": self.tenant}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, as established from a verified token."""

    username: str
    role: Role
    tenant: str | None


@dataclass(frozen=True, slots=True)
class Token:
    token: str
    expires_at: float
    role: Role
    tenant: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "expires_at": self.expires_at,
            "role": str(self.role),
            "tenant": self.tenant,
        }


def authorize(principal: Principal, action: Action, tenant: str | None = None) -> None:
    """Raise Forbidden unless ``principal`` may do ``action`` (on ``tenant``'s objects).

    admin: everything. service: everything but users and changing a tenant's isolation (it
    chooses one when it creates a tenant). agent: read
    everything, allocate, register hosts. tenant: read, write and allocate only objects of
    its own tenant; nothing global.
    """
    role = principal.role
    if role is Role.ADMIN:
        return
    if role is Role.SERVICE and action not in (Action.MANAGE_USERS, Action.SET_ISOLATION):
        return
    if role is Role.AGENT and action in (Action.READ, Action.ALLOCATE, Action.REGISTER_HOST):
        return
    if (
        role is Role.TENANT
        and action in (Action.READ, Action.WRITE, Action.ALLOCATE)
        and tenant is not None
        and tenant == principal.tenant
    ):
        return
    scope = f" of tenant {tenant!r}" if tenant is not None else ""
    raise Forbidden(f"{role} user {principal.username!r} may not {action} objects{scope}")


def may(principal: Principal, action: Action, tenant: str | None = None) -> bool:
    """:func:`authorize` as a predicate, for filtering lists."""
    try:
        authorize(principal, action, tenant)
    except Forbidden:
        return False
    return True


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _hash_password(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=64 << 20)


def user_key(username: str) -> str:
    return USERS + username


class AuthService:
    """Users and tokens over the store; ``clock`` is wall-clock seconds (tokens cross hosts)."""

    def __init__(
        self,
        store: Store,
        *,
        token_ttl: float = 86400.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._token_ttl = token_ttl
        self._clock = clock
        self._key: bytes | None = None

    # -- users ---------------------------------------------------------------------------

    def create_user(
        self, username: str, password: str, role: str, tenant: str | None = None
    ) -> User:
        issues = Issues()
        if not isinstance(username, str) or not USERNAME_RE.match(username):
            issues.add(
                "username",
                "must be 1-64 characters of letters, digits and _ . @ -, starting alphanumeric",
            )
        self._check_password(password, issues)
        parsed_role = Role(role) if role in set(Role) else None
        if parsed_role is None:
            issues.add("role", f"must be one of {', '.join(r.value for r in Role)}")
        elif parsed_role is Role.TENANT:
            if tenant is None:
                issues.add("tenant", "is required for a tenant user")
            else:
                tenancy.check_name(tenant, "tenant", issues)
        elif tenant is not None:
            issues.add("tenant", f"only tenant users have a tenant, not {parsed_role} users")
        issues.raise_if_any()
        assert parsed_role is not None
        record = self._record(username, password, parsed_role, tenant)

        def attempt(w: txn.Writes) -> User:
            if self._store.get(user_key(username)) is not None:
                raise AlreadyExists(f"user {username!r} already exists")
            w.guard(user_key(username), None)
            w.ops.append(Put(user_key(username), txn.dumps(record)))
            return _user(record)

        return txn.run(self._store, attempt, what=f"create user {username!r}")

    def set_password(self, username: str, password: str) -> User:
        """Replace a user's password; its uid, and so its tokens, stay valid."""
        issues = Issues()
        self._check_password(password, issues)
        issues.raise_if_any()

        def attempt(w: txn.Writes) -> User:
            kv = self._store.get(user_key(username))
            if kv is None:
                raise NotFound(f"user {username!r} does not exist")
            record = txn.loads(kv)
            record["password"] = self._password_record(password)
            w.guard(user_key(username), kv)
            w.ops.append(Put(user_key(username), txn.dumps(record)))
            return _user(record)

        return txn.run(self._store, attempt, what=f"set password of {username!r}")

    def get_user(self, username: str) -> User:
        kv = self._store.get(user_key(username))
        if kv is None:
            raise NotFound(f"user {username!r} does not exist")
        return _user(txn.loads(kv))

    def list_users(self) -> list[User]:
        return [_user(raw) for raw in txn.loads_all(self._store.range(USERS).items)]

    def delete_user(self, username: str) -> User:
        """Delete a user, revoking its tokens; the last admin cannot be deleted."""

        def attempt(w: txn.Writes) -> User:
            kv = self._store.get(user_key(username))
            if kv is None:
                raise NotFound(f"user {username!r} does not exist")
            user = _user(txn.loads(kv))
            if user.role is Role.ADMIN:
                admins = [
                    a for a in self._store.range(USERS).items if txn.loads(a)["role"] == Role.ADMIN
                ]
                if len(admins) <= 1:
                    raise Conflict(f"user {username!r} is the last admin and cannot be deleted")
                for a in admins:
                    w.guard(a.key, a)
            w.guard(user_key(username), kv)
            w.ops.append(Delete(user_key(username)))
            return user

        return txn.run(self._store, attempt, what=f"delete user {username!r}")

    def ensure_internal_user(self) -> User:
        """The service user this process mints tokens for; created (without a usable
        password) when missing."""
        try:
            return self.get_user(INTERNAL_USER)
        except NotFound:
            pass
        record = {
            "username": INTERNAL_USER,
            "role": str(Role.SERVICE),
            "tenant": None,
            "uid": secrets.token_hex(8),
            "password": None,
        }
        self._store.txn(
            [Compare(user_key(INTERNAL_USER), 0)], [Put(user_key(INTERNAL_USER), txn.dumps(record))]
        )
        return self.get_user(INTERNAL_USER)

    # -- tokens --------------------------------------------------------------------------

    def login(self, username: str, password: str) -> Token:
        """A token for valid credentials; Unauthorized otherwise (same message either way)."""
        kv = self._store.get(user_key(username)) if isinstance(username, str) else None
        record = txn.loads(kv) if kv else None
        stored = record.get("password") if record else None
        if not isinstance(password, str) or stored is None:
            # Same work as a real check, so timing does not reveal which usernames exist.
            _hash_password("x", b"0" * 16, **_SCRYPT)
            raise Unauthorized("wrong username or password")
        candidate = _hash_password(
            password, _unb64(stored["salt"]), stored["n"], stored["r"], stored["p"]
        )
        if not hmac.compare_digest(candidate, _unb64(stored["hash"])):
            raise Unauthorized("wrong username or password")
        assert record is not None
        return self.mint(_user(record))

    def mint(self, user: User, ttl: float | None = None) -> Token:
        """A signed token for ``user`` (callers have authenticated it already)."""
        now = self._clock()
        exp = now + (self._token_ttl if ttl is None else ttl)
        payload = {
            "sub": user.username,
            "uid": user.uid,
            "role": str(user.role),
            "tenant": user.tenant,
            "iat": int(now),
            "exp": exp,
        }
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        signature = _b64(hmac.new(self._signing_key(), body.encode(), hashlib.sha256).digest())
        return Token(f"{body}.{signature}", exp, user.role, user.tenant)

    def verify(self, token: str) -> Principal:
        """The principal a token speaks for; Unauthorized when forged, expired or revoked."""
        body, _, signature = token.partition(".")
        try:
            given = _unb64(signature)
        except (binascii.Error, ValueError):
            raise Unauthorized("token is malformed") from None
        expected = hmac.new(self._signing_key(), body.encode(), hashlib.sha256).digest()
        if not body or not hmac.compare_digest(given, expected):
            raise Unauthorized("token signature is not valid")
        try:
            payload = json.loads(_unb64(body))
            username, uid, exp = str(payload["sub"]), str(payload["uid"]), float(payload["exp"])
        except (binascii.Error, ValueError, KeyError, TypeError):
            raise Unauthorized("token is malformed") from None
        if exp <= self._clock():
            raise Unauthorized("token has expired; log in again")
        kv = self._store.get(user_key(username))
        user = _user(txn.loads(kv)) if kv else None
        if user is None or user.uid != uid:
            raise Unauthorized(f"token's user {username!r} no longer exists")
        return Principal(user.username, user.role, user.tenant)

    # -- helpers -------------------------------------------------------------------------

    def _signing_key(self) -> bytes:
        if self._key is None:
            kv = self._store.get(SIGNING_KEY)
            if kv is None:
                fresh = txn.dumps({"alg": "HS256", "key": _b64(secrets.token_bytes(32))})
                # Create-if-absent: of concurrent first starts exactly one key wins.
                self._store.txn([Compare(SIGNING_KEY, 0)], [Put(SIGNING_KEY, fresh)])
                kv = self._store.get(SIGNING_KEY)
                assert kv is not None
            self._key = _unb64(txn.loads(kv)["key"])
        return self._key

    @staticmethod
    def _check_password(password: str, issues: Issues) -> None:
        if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            issues.add("password", f"must be {MIN_PASSWORD}-{MAX_PASSWORD} characters")

    @staticmethod
    def _password_record(password: str) -> dict[str, Any]:
        salt = secrets.token_bytes(16)
        digest = _hash_password(password, salt, **_SCRYPT)
        return {"alg": "scrypt", **_SCRYPT, "salt": _b64(salt), "hash": _b64(digest)}

    def _record(
        self, username: str, password: str, role: Role, tenant: str | None
    ) -> dict[str, Any]:
        return {
            "username": username,
            "role": str(role),
            "tenant": tenant,
            "uid": secrets.token_hex(8),
            "password": self._password_record(password),
        }


def _user(raw: dict[str, Any]) -> User:
    tenant = raw.get("tenant")
    return User(
        str(raw["username"]),
        Role(raw["role"]),
        None if tenant is None else str(tenant),
        str(raw["uid"]),
    )
