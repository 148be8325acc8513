"""User records: their public shape, the host binding of agent users, password hashes.

A user record (``auth/users/<username>``, written by :class:`romana.services.auth.AuthService`)
is read into a :class:`User` by :func:`from_record`. Fields an earlier release did not write
read as their defaults: ``generation`` 0, ``tenant_uid`` and ``host`` None.

Its ``password`` is ``{"alg": "scrypt", "n", "r", "p", "salt", "hash"}`` (salt and hash in
unpadded base64url, :func:`password_record`); the password itself is never stored. Checking a
password against no record (an unknown user, romanad's internal user) costs one hash all the
same (:func:`password_matches`), so timing does not tell which usernames exist.

An agent user is bound to one host name at creation (:func:`check_host`), spelled as an
existing host of that name is (:func:`check_host_spelling`). Its credential sits
on that host, so a stolen one must reach no other (:mod:`romana.services.authz` scopes every
agent grant to the bound host). An agent user of an earlier release has no host; rather than
guess one, its logins and tokens are refused (:func:`check_bound`) with what to do instead.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from romana.core import names, records
from romana.core.errors import Issues, Unauthorized
from romana.core.identifiers import HostName, TenantName
from romana.services import signing
from romana.services.authz import Role

MIN_PASSWORD = 8
MAX_PASSWORD = 1024

# scrypt with n=2**14, r=8 costs about 16 MiB and tens of milliseconds: cheap for a login,
# expensive for a guesser.
_SCRYPT = {"n": 1 << 14, "r": 8, "p": 1}


@dataclass(frozen=True, slots=True)
class User:
    username: str
    role: Role
    tenant: TenantName | None
    uid: str
    generation: int = 0
    """Tokens minted at another generation are revoked."""
    tenant_uid: str | None = None
    """The uid of the tenant a tenant user belongs to; None for other roles (and for a tenant
    user of an earlier release whose tenant was gone at upgrade: its tokens are refused)."""
    host: HostName | None = None
    """The one host an agent user is bound to; None for other roles (and for an agent user
    of an earlier release: its tokens are refused)."""

    def to_dict(self) -> dict[str, Any]:
        """The public form (no uid, no generation, no password hash)."""
        return records.fields_dict(self, {"role": str}, only=("username", "role", "tenant", "host"))


def from_record(raw: dict[str, Any]) -> User:
    """The user a stored record describes."""
    tenant, tenant_uid, host = raw.get("tenant"), raw.get("tenant_uid"), raw.get("host")
    return User(
        str(raw["username"]),
        Role(raw["role"]),
        None if tenant is None else TenantName(str(tenant)),
        str(raw["uid"]),
        int(raw.get("generation", 0)),
        None if tenant_uid is None else str(tenant_uid),
        None if host is None else HostName(str(host)),
    )


def check_host(role: Role | None, host: object, issues: Issues) -> None:
    """A new agent user names its host (a valid host name); no other role names one.

    ``role`` None (not a valid role: reported elsewhere) adds nothing."""
    if role is Role.AGENT:
        if host is None:
            issues.add("host", "is required for an agent user: the one host it acts for")
        elif not names.matches(names.HOST_RE, host):
            issues.add("host", names.HOST_RULE)
    elif host is not None and role is not None:
        issues.add("host", f"only agent users have a host, not {role} users")


def check_host_spelling(host: str, existing: Iterable[str]) -> None:
    """InvalidInput on ``host`` when a host in ``existing`` has its name but for case.

    Hosts are looked up exactly, so an agent bound to ``H1`` could neither act for ``h1`` nor
    register ``H1`` beside it: a credential that looks bound to the host but works nowhere."""
    same = names.clash(host, existing)
    if same is not None and same != host:
        issues = Issues()
        issues.add(
            "host",
            f"must be spelled as the host that exists: host {same!r} does, not {host!r} "
            "(host names are matched exactly and unique ignoring case)",
        )
        issues.raise_if_any()


def check_bound(user: User) -> None:
    """Unauthorized for an agent user bound to no host (created by an earlier release, when
    one agent credential served every host)."""
    if user.role is Role.AGENT and user.host is None:
        raise Unauthorized(
            f"agent user {user.username!r} is bound to no host (created by an earlier "
            "release); an admin must delete it and create one agent user per host, e.g. "
            f"romana user create {user.username} --role agent --host HOST"
        )


def check_password(password: str, issues: Issues) -> None:
    """A password is a string of :data:`MIN_PASSWORD` to :data:`MAX_PASSWORD` characters."""
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        issues.add("password", f"must be {MIN_PASSWORD}-{MAX_PASSWORD} characters")


def password_record(password: str) -> dict[str, Any]:
    """The stored record of ``password``, with a fresh salt."""
    salt = secrets.token_bytes(16)
    digest = _hash(password, salt, **_SCRYPT)
    return {"alg": "scrypt", **_SCRYPT, "salt": signing.b64(salt), "hash": signing.b64(digest)}


def password_matches(stored: dict[str, Any] | None, password: str) -> bool:
    """Whether ``password`` hashes to ``stored``; as slow for no stored password."""
    if not isinstance(password, str) or stored is None:
        _hash("x", b"0" * 16, **_SCRYPT)
        return False
    salt, digest = signing.unb64(stored["salt"]), signing.unb64(stored["hash"])
    candidate = _hash(password, salt, stored["n"], stored["r"], stored["p"])
    return hmac.compare_digest(candidate, digest)


def _hash(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=64 << 20)
