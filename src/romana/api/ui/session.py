"""Who is looking at the web view: the session cookie, logging in and out, and the headers
every page carries.

Logging in exchanges a username and password for the very token ``POST /v1/auth/token``
issues (same throttle, :mod:`romana.services.logins`, and the same ``login`` or
``login_failed`` audit line); the token is kept in the :data:`COOKIE` cookie, never shown to
the page's scripts. Each request is authenticated from that cookie as
:data:`romana.api.context.Caller` authenticates a bearer token (:meth:`AuthService.verify`):
an expired, forged or revoked token is no session. Logging out revokes every token of the
user, as ``POST /v1/auth/logout`` does, and clears the cookie.

Invariants:

* The cookie is ``HttpOnly``, ``SameSite=Strict``, limited to ``/ui``, lives no longer than its
  token, and is ``Secure`` whenever the request came over TLS.
* The two requests that change anything, login and logout, are refused (403) unless the
  browser says they come from a page of this very origin (``Origin``, and ``Sec-Fetch-Site``
  when sent): no other site can log a visitor in or out. Every other route of the view is a
  ``GET`` that changes nothing.
* Every answer of the view carries :data:`HEADERS`: a Content-Security-Policy that lets a page
  load scripts, styles and data from this origin only and runs no inline script or style,
  and asks that nothing be cached. Referrers go to this origin only (``same-origin``):
  with none at all the browser would send ``Origin: null`` on the login form.
"""

from __future__ import annotations

import time
import urllib.parse

from fastapi import Request
from fastapi.responses import Response

from romana.api import audit
from romana.api.context import INSECURE, Context
from romana.api.errors import status_of
from romana.core.errors import Forbidden, RomanaError, Unauthorized
from romana.services import auth

COOKIE = "romana_ui"
PATH = "/ui"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
MAX_FORM_BYTES = 4096
"""A login form is a few dozen bytes: a longer one is refused unread."""


def secured(response: Response) -> Response:
    """``response`` with :data:`HEADERS`."""
    response.headers.update(HEADERS)
    return response


async def viewer(request: Request) -> auth.Principal | None:
    """The verified user of the session cookie; None when there is no valid session."""
    ctx: Context = request.app.state.ctx
    if ctx.settings.insecure:
        caller = INSECURE
    else:
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        try:
            caller = await ctx.offload(ctx.auth.verify, token)
        except Unauthorized:
            return None
    request.scope[audit.PRINCIPAL] = caller
    return caller


def same_origin(request: Request) -> None:
    """Forbidden unless the browser says the request comes from a page of this origin."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        raise Forbidden(f"a request from another site ({fetch_site}) may not log in or out")
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    if origin != own:
        raise Forbidden(f"login and logout need an Origin header of {own!r}, not {origin!r}")


async def form(request: Request) -> dict[str, str]:
    """The fields of a URL-encoded form body (the first value of each)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        raise Forbidden("the login form must be sent as application/x-www-form-urlencoded")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise Forbidden(f"a login form is at most {MAX_FORM_BYTES} bytes")
    fields = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


async def login(request: Request, username: str, password: str) -> auth.Token:
    """A token for the credentials, through the login throttle, with its audit line."""
    ctx: Context = request.app.state.ctx
    scope = request.scope
    scope[audit.AUDITED] = True
    try:
        issued = await ctx.logins.attempt(
            username, audit.source_of(scope), lambda: ctx.auth.login(username, password)
        )
    except RomanaError as exc:
        audit.record("login_failed", scope=scope, status=status_of(exc), user=username)
        raise
    audit.record("login", scope=scope, status=303, user=username, role=str(issued.role))
    return issued


def keep(request: Request, response: Response, token: auth.Token) -> None:
    """Set the session cookie to ``token`` for as long as the token lives."""
    response.set_cookie(
        COOKIE,
        token.token,
        max_age=max(0, int(token.expires_at - time.time())),
        path=PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def forget(request: Request, response: Response) -> None:
    """Clear the session cookie."""
    response.delete_cookie(
        COOKIE, path=PATH, secure=request.url.scheme == "https", httponly=True, samesite="strict"
    )


async def logout(request: Request) -> str | None:
    """Revoke every token of the session's user; its name, or None without a session."""
    ctx: Context = request.app.state.ctx
    caller = await viewer(request)
    if caller is None or caller is INSECURE:
        return None
    await ctx.offload(ctx.auth.revoke_tokens, caller.username)
    audit.name_object(request, f"users/{caller.username}")
    return caller.username
