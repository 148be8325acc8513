"""Users and signed tokens; the roles and the authorisation rule are :mod:`.authz`'s.

Users live at ``auth/users/<username>``: role, tenant and the tenant's ``tenant_uid`` (tenant
users only), ``host`` (agent users only), a random ``uid`` fixed at creation, a token
``generation`` (0 when absent), and a scrypt hash of the password (never the password:
:mod:`.users`). Tokens are ``<payload>.<signature>``: the payload is compact JSON
``{"sub", "uid", "gen", "role", "tenant", "iat", "exp"}`` in unpadded base64url, the
signature HMAC-SHA256 over the encoded payload with the current signing key
(:mod:`romana.services.signing`: keys shared through the store, rotated without downtime).

Invariants:

* A token is accepted only when it is canonical (:func:`signing.unb64`), a key not yet
  retired signed it, it has not expired, and its user still exists with the same ``uid`` and
  ``generation``. Deleting a user revokes its tokens (also when a new user of the same name
  is created later); a password change, :meth:`AuthService.revoke_tokens` (logout, admin
  revoke) and ``--reset-admin`` increase the generation, which revokes every token of that
  user at once, on every replica. The check costs no extra store read: the user record is
  read for every request anyway. Role and tenant come from the stored user, not the token.
* A tenant user is bound to its tenant's immutable uid, not its name: it can be created only
  for an existing tenant, deleting the tenant deletes it (:mod:`romana.services.tenants`),
  and its tokens are accepted only while a tenant of that name has that uid. This costs one
  store read (the tenant record) per request of a tenant-role caller; other roles none.
* An agent user is bound to one host name, given at creation and carried by every principal
  its tokens yield (:mod:`.authz` scopes it to that host); a name an existing host has but
  for case is refused. An agent user of an earlier release has no host: its logins and
  tokens are refused, saying to recreate it with one.
* No token outlives ``token_ttl`` (finite, > 0 and at most :data:`MAX_TOKEN_TTL`), which is
  how long a rotated-out signing key must keep verifying.
* Failed logins are indistinguishable: unknown user and wrong password give the same
  message and take the same time (a dummy hash is computed for unknown users).
* :func:`authorize` (re-exported from :mod:`.authz`) is the whole permission matrix;
  handlers never compare roles themselves.
* User names are unique ignoring case (checked in the creating transaction, guarded by the
  whole user range), and none is ``romanad`` in any case; logins look names up exactly.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from romana.core import names, records, tenancy, topology
from romana.core.errors import AlreadyExists, Conflict, Forbidden, Issues, NotFound, Unauthorized
from romana.core.identifiers import HostName, TenantName
from romana.core.store import Compare, Delete, KeyValue, Put, Store
from romana.services import keys, signing, txn, users
from romana.services.authz import ANY_OBJECT as ANY_OBJECT
from romana.services.authz import GRANTS as GRANTS
from romana.services.authz import Action as Action
from romana.services.authz import Principal as Principal
from romana.services.authz import Role as Role
from romana.services.authz import Scope as Scope
from romana.services.authz import Target as Target
from romana.services.authz import authorize as authorize
from romana.services.authz import claim as claim
from romana.services.authz import may as may
from romana.services.authz import scope_of as scope_of
from romana.services.users import User as User
from romana.services.users import from_record

USERS = keys.USERS
USERNAME_RULE = names.USERNAME_RULE
USERNAME_PATTERN = names.USERNAME_PATTERN
USERNAME_RE = re.compile(USERNAME_PATTERN)
MAX_TOKEN = 4096
"""Longer bearer tokens are refused before any decoding."""
MAX_TOKEN_TTL = 30 * 86400.0
"""Longest ``token_ttl``: a leaked token, and a rotated-out key, stay usable no longer."""
INTERNAL_USER = "romanad"
"""The ``internal`` user every romanad process mints its own tokens for (root registration)."""


@dataclass(frozen=True, slots=True)
class Token:
    token: str
    expires_at: float
    role: Role
    tenant: str | None

    def to_dict(self) -> dict[str, Any]:
        return records.fields_dict(self, {"role": str})


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
        issues = Issues("auth service")
        check_ttl("token_ttl", token_ttl, issues, most=MAX_TOKEN_TTL)
        issues.raise_if_any()
        self._store = store
        self._token_ttl = token_ttl
        self._clock = clock
        self._keys = signing.KeyRing(store, clock=clock)

    # -- users ---------------------------------------------------------------------------

    def create_user(
        self,
        username: str,
        password: str,
        role: str,
        tenant: TenantName | None = None,
        host: HostName | None = None,
    ) -> User:
        """A new user; a tenant user needs ``tenant`` (an existing tenant), an agent user
        ``host`` (the one host name it may act for), and no other role takes either."""
        issues = Issues()
        if not names.matches(USERNAME_RE, username):
            issues.add("username", USERNAME_RULE)
        elif names.clash(username, (INTERNAL_USER,)):
            issues.add("username", "is reserved for romanad's own identity")
        users.check_password(password, issues)
        parsed_role = Role(role) if role in set(Role) else None
        if parsed_role is None or parsed_role is Role.INTERNAL:
            creatable = (r.value for r in Role if r is not Role.INTERNAL)
            issues.add("role", f"must be one of {', '.join(creatable)}")
        elif parsed_role is Role.TENANT:
            if tenant is None:
                issues.add("tenant", "is required for a tenant user")
            else:
                tenancy.check_name(tenant, "tenant", issues)
        elif tenant is not None:
            issues.add("tenant", f"only tenant users have a tenant, not {parsed_role} users")
        users.check_host(parsed_role, host, issues)
        issues.raise_if_any()
        assert parsed_role is not None
        record = self._record(username, password, parsed_role, tenant, host)

        def attempt(w: txn.Writes) -> User:
            stored = self._store.range(USERS)
            same = names.clash(username, (str(u["username"]) for u in txn.loads_all(stored.items)))
            if same is not None:
                raise AlreadyExists(f"user {same!r} already exists")
            w.guard(user_key(username), None)
            # Unique ignoring case: no user of any spelling was created meanwhile.
            w.guard_range(USERS, stored.revision)
            bound = record
            if host is not None:
                topo = self._store.get(keys.TOPOLOGY)
                placed = topology.from_json_dict(txn.loads(topo)).hosts if topo else ()
                users.check_host_spelling(host, (h.name for h in placed))
                # A host of another spelling registered meanwhile: retried, and refused.
                w.guard(keys.TOPOLOGY, topo)
            if tenant is not None:
                tkv = self._store.get(keys.tenant(tenant))
                if tkv is None:
                    missing = Issues()
                    missing.add("tenant", f"must name an existing tenant; {tenant!r} does not")
                    missing.raise_if_any()
                assert tkv is not None
                # Deleted or replaced concurrently: retried, and refused as missing.
                w.guard(tkv.key, tkv)
                bound = record | {"tenant_uid": str(txn.loads(tkv).get("uid", ""))}
            w.ops.append(Put(user_key(username), txn.dumps(bound)))
            return from_record(bound)

        return txn.run(self._store, attempt, what=f"create user {username!r}")

    def set_password(self, username: str, password: str, *, current: str | None = None) -> User:
        """Replace a user's password, revoking every token of the user.

        With ``current`` (a user changing its own password), Forbidden unless it is the
        password now stored; checked in the same transaction as the change.
        """
        issues = Issues()
        users.check_password(password, issues)
        issues.raise_if_any()
        new = users.password_record(password)

        def attempt(w: txn.Writes) -> User:
            kv, record = self._stored(username)
            if record["role"] == Role.INTERNAL:
                raise Forbidden(f"user {username!r} is romanad's own identity: no password")
            if current is not None and not users.password_matches(record.get("password"), current):
                raise Forbidden(f"the current password of user {username!r} is wrong")
            record["password"] = new
            return _revoke(w, username, kv, record)

        return txn.run(self._store, attempt, what=f"set password of {username!r}")

    def revoke_tokens(self, username: str) -> User:
        """Revoke every token minted for ``username`` so far, on every replica at once."""

        def attempt(w: txn.Writes) -> User:
            kv, record = self._stored(username)
            return _revoke(w, username, kv, record)

        return txn.run(self._store, attempt, what=f"revoke the tokens of {username!r}")

    def get_user(self, username: str) -> User:
        return from_record(self._stored(username)[1])

    def _stored(self, username: str) -> tuple[KeyValue, dict[str, Any]]:
        """The user's key (for a guard) and its record; NotFound when there is none."""
        kv = self._store.get(user_key(username))
        if kv is None:
            raise NotFound(f"user {username!r} does not exist")
        return kv, txn.loads(kv)

    def list_users(self) -> list[User]:
        return [from_record(raw) for raw in txn.loads_all(self._store.range(USERS).items)]

    def delete_user(self, username: str) -> User:
        """Delete a user, revoking its tokens; the last admin cannot be deleted."""

        def attempt(w: txn.Writes) -> User:
            kv, record = self._stored(username)
            user = from_record(record)
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
        """The ``internal`` user this process mints tokens for; created (without a usable
        password) when missing, and given the ``internal`` role when an older release
        created it as a ``service`` user. A user of that name with a password was made by
        someone (before the name was reserved) and is left as it is."""
        kv = self._store.get(user_key(INTERNAL_USER))
        if kv is not None:
            found = txn.loads(kv)
            if found["role"] == Role.INTERNAL or found.get("password") is not None:
                return from_record(found)
        record = txn.loads(kv) if kv is not None else {"uid": secrets.token_hex(8)}
        record.update(
            {
                "username": INTERNAL_USER,
                "role": str(Role.INTERNAL),
                "tenant": None,
                "password": None,
            }
        )
        # Compare-and-put: of concurrent first starts exactly one record wins.
        guard = Compare(user_key(INTERNAL_USER), 0 if kv is None else kv.mod_revision)
        self._store.txn([guard], [Put(user_key(INTERNAL_USER), txn.dumps(record))])
        return self.get_user(INTERNAL_USER)

    # -- tokens --------------------------------------------------------------------------

    def login(self, username: str, password: str) -> Token:
        """A token for valid credentials; Unauthorized otherwise (same message either way)."""
        kv = self._store.get(user_key(username)) if isinstance(username, str) else None
        record = txn.loads(kv) if kv else None
        if record is None or not users.password_matches(record.get("password"), password):
            raise Unauthorized("wrong username or password")
        user = from_record(record)
        users.check_bound(user)
        return self.mint(user)

    def mint(self, user: User, ttl: float | None = None) -> Token:
        """A signed token for ``user`` (callers have authenticated it already), valid for
        ``ttl`` seconds but never longer than ``token_ttl``."""
        now = self._clock()
        exp = now + (self._token_ttl if ttl is None else min(ttl, self._token_ttl))
        payload = {
            "sub": user.username,
            "uid": user.uid,
            "gen": user.generation,
            "role": str(user.role),
            "tenant": user.tenant,
            "iat": int(now),
            "exp": exp,
        }
        body = signing.b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        signature = signing.b64(self._keys.sign(body.encode()))
        return Token(f"{body}.{signature}", exp, user.role, user.tenant)

    def verify(self, token: str) -> Principal:
        """The principal a token speaks for; Unauthorized when malformed, forged, expired
        or revoked."""
        parts = token.split(".") if isinstance(token, str) and len(token) <= MAX_TOKEN else []
        try:
            body, signature = parts
            given = signing.unb64(signature)
            raw = signing.unb64(body)
        except ValueError:
            raise Unauthorized("token is malformed") from None
        if not body or not self._keys.verify(body.encode(), given):
            raise Unauthorized("token signature is not valid")
        try:
            payload = _TOKEN_JSON.decode(raw.decode())
            username, uid, exp = str(payload["sub"]), str(payload["uid"]), float(payload["exp"])
            generation = int(payload.get("gen", 0))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise Unauthorized("token is malformed") from None
        if not (math.isfinite(exp) and exp > self._clock()):
            raise Unauthorized("token has expired; log in again")
        kv = self._store.get(user_key(username))
        user = from_record(txn.loads(kv)) if kv else None
        if user is None or user.uid != uid:
            raise Unauthorized(f"token's user {username!r} no longer exists")
        if user.generation != generation:
            raise Unauthorized(f"token of user {username!r} has been revoked; log in again")
        if user.role is Role.TENANT:
            self._check_tenant(user)
        users.check_bound(user)
        return Principal(user.username, user.role, user.tenant, user.host)

    def _check_tenant(self, user: User) -> None:
        """Unauthorized unless the tenant ``user`` was created for still exists: same name,
        same uid (a tenant deleted and created again under its name is another tenant)."""
        tkv = self._store.get(keys.tenant(user.tenant)) if user.tenant is not None else None
        uid = txn.loads(tkv).get("uid") if tkv is not None else None
        if not uid or uid != user.tenant_uid:
            raise Unauthorized(
                f"tenant {user.tenant!r} of token's user {user.username!r} no longer exists"
            )

    # -- signing keys --------------------------------------------------------------------

    def signing_keys(self) -> list[signing.SigningKey]:
        """The keys tokens verify with, the one new tokens are signed with first."""
        return self._keys.active()

    def rotate_signing_key(self, *, retire_now: bool = False) -> list[signing.SigningKey]:
        """Sign new tokens with a fresh key; tokens of the old key verify until they expire
        (``token_ttl`` from now), or never again with ``retire_now``."""
        return self._keys.rotate(self._token_ttl, retire_now=retire_now)

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def _record(
        username: str, password: str, role: Role, tenant: str | None, host: str | None
    ) -> dict[str, Any]:
        return {
            "username": username,
            "role": str(role),
            "tenant": tenant,
            "host": host,
            "uid": secrets.token_hex(8),
            "password": users.password_record(password),
        }


def _revoke(w: txn.Writes, username: str, kv: KeyValue, record: dict[str, Any]) -> User:
    """Write ``record`` back one generation up, guarded by ``kv``: every older token dies."""
    record["generation"] = int(record.get("generation", 0)) + 1
    w.guard(user_key(username), kv)
    w.ops.append(Put(user_key(username), txn.dumps(record)))
    return from_record(record)


def check_ttl(name: str, value: float, issues: Issues, *, most: float | None = None) -> None:
    """A lifetime in seconds must be a finite number > 0 (``nan`` and ``inf`` are not), and
    at most ``most`` seconds when given."""
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        issues.add(name, f"must be a finite number of seconds > 0, not {value!r}")
    elif most is not None and value > most:
        issues.add(
            name, f"must be at most {most:.0f} seconds ({most / 86400:g} days), not {value!r}"
        )


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a token may carry")


_TOKEN_JSON = json.JSONDecoder(parse_constant=_no_constant)
