"""Service ``auth``: tokens and users (docs/api.md, Auth).

The endpoints whose body carries a password (log in, create a user, change a password) are also in
:data:`credentials`, which a process running ``root`` without ``auth`` serves as well: clients
send passwords only to the root URLs they were configured with, never to an instance they
discovered (docs/security.md).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request, Response

from romana.api import audit
from romana.api.context import INSECURE, Caller, Ctx
from romana.api.errors import status_of
from romana.api.routes import ERRORS
from romana.core.errors import Issues, RomanaError
from romana.core.identifiers import HostName, TenantName
from romana.services import auth
from romana.wire import rest

SERVICE = "auth"
router = APIRouter(prefix=rest.PREFIX, tags=["auth"], responses=ERRORS)
credentials = APIRouter(prefix=rest.PREFIX, tags=["auth"], responses=ERRORS)


@credentials.post("/auth/token", response_model=rest.TokenOut)
async def token(body: rest.Credentials, ctx: Ctx, request: Request) -> dict[str, object]:
    """Exchange a username and password for a signed token (public).

    Throttled per user and per client address, with a bounded number of password checks at
    once (:mod:`romana.services.logins`: 429 with ``Retry-After``); every attempt is one
    audit line, ``login`` or ``login_failed``."""
    scope = request.scope
    scope[audit.AUDITED] = True
    try:
        issued = await ctx.logins.attempt(
            body.username,
            audit.source_of(scope),
            lambda: ctx.auth.login(body.username, body.password),
        )
    except RomanaError as exc:
        audit.record("login_failed", scope=scope, status=status_of(exc), user=body.username)
        raise
    audit.record("login", scope=scope, status=200, user=body.username, role=str(issued.role))
    return issued.to_dict()


@router.get("/users", response_model=list[rest.User])
def list_users(ctx: Ctx, caller: Caller) -> list[dict[str, object]]:
    auth.authorize(caller, auth.Action.MANAGE_USERS)
    return [u.to_dict() for u in ctx.auth.list_users()]


@router.get("/users/{username}", response_model=rest.User)
def get_user(username: str, ctx: Ctx, caller: Caller) -> dict[str, object]:
    """One user: its role, and its tenant (tenant users) or host (agent users) (admin)."""
    auth.authorize(caller, auth.Action.MANAGE_USERS)
    return ctx.auth.get_user(username).to_dict()


@credentials.post("/users", response_model=rest.User, status_code=201)
def create_user(body: rest.UserIn, ctx: Ctx, caller: Caller, request: Request) -> dict[str, object]:
    """Create a user: a tenant user names its ``tenant``, an agent user its ``host`` (the
    one host it may register, read, and allocate on)."""
    auth.authorize(caller, auth.Action.MANAGE_USERS)
    tenant = None if body.tenant is None else TenantName(body.tenant)
    host = None if body.host is None else HostName(body.host)
    made = ctx.auth.create_user(body.username, body.password, body.role, tenant, host)
    audit.name_object(request, f"users/{made.username}")
    return made.to_dict()


def _user_changed(
    caller: auth.Principal, request: Request, username: str, change: Callable[[str], object]
) -> Response:
    """An admin's change to one user, audited by the user it changed."""
    auth.authorize(caller, auth.Action.MANAGE_USERS)
    change(username)
    audit.name_object(request, f"users/{username}")
    return Response(status_code=204)


@router.delete("/users/{username}", status_code=204, response_class=Response)
def delete_user(username: str, ctx: Ctx, caller: Caller, request: Request) -> Response:
    """Delete a user; its tokens stop working at once (admin)."""
    return _user_changed(caller, request, username, ctx.auth.delete_user)


@router.post("/auth/logout", status_code=204, response_class=Response)
def logout(ctx: Ctx, caller: Caller, request: Request) -> Response:
    """Revoke every token of the calling user, this one included, on every replica."""
    if caller is not INSECURE:
        ctx.auth.revoke_tokens(caller.username)
        audit.name_object(request, f"users/{caller.username}")
    return Response(status_code=204)


@credentials.put("/users/{username}/password", response_model=rest.User)
def set_password(
    username: str, body: rest.PasswordIn, ctx: Ctx, caller: Caller
) -> dict[str, object]:
    """Change a password, revoking every token of the user: an admin sets anyone's, any
    user its own by giving the current one too."""
    if not auth.may(caller, auth.Action.MANAGE_USERS):
        if caller.username != username:
            auth.authorize(caller, auth.Action.MANAGE_USERS)
        if body.current_password is None:
            issues = Issues()
            issues.add("current_password", "is required to change your own password")
            issues.raise_if_any()
    user = ctx.auth.set_password(username, body.password, current=body.current_password)
    return user.to_dict()


@router.post("/users/{username}/revoke", status_code=204, response_class=Response)
def revoke(username: str, ctx: Ctx, caller: Caller, request: Request) -> Response:
    """Revoke every token of a user at once; its password stays (admin)."""
    return _user_changed(caller, request, username, ctx.auth.revoke_tokens)


@router.get("/auth/signing-keys", response_model=list[rest.SigningKey])
def signing_keys(ctx: Ctx, caller: Caller) -> list[dict[str, object]]:
    """The keys tokens verify with (fingerprints, never the keys), the signing one first."""
    auth.authorize(caller, auth.Action.MANAGE_USERS)
    return [k.to_dict() for k in ctx.auth.signing_keys()]


@router.post("/auth/signing-keys", response_model=list[rest.SigningKey])
def rotate_signing_key(
    ctx: Ctx, caller: Caller, request: Request, body: rest.RotateIn | None = None
) -> list[dict[str, object]]:
    """Sign new tokens with a fresh key; the old one verifies until its tokens expire, or
    stops at once with ``retire_now`` (a leaked key: every older token is refused)."""
    auth.authorize(caller, auth.Action.MANAGE_USERS)
    retire_now = body is not None and body.retire_now
    ring = [k.to_dict() for k in ctx.auth.rotate_signing_key(retire_now=retire_now)]
    audit.name_object(request, f"auth/signing-keys/{ring[0]['id']}")  # the new, current key
    return ring


# Both routers carry the version prefix already: the routes are shared, not included under
# a second prefix.
router.routes.extend(credentials.routes)
