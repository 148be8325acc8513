"""The web view's routes under ``/ui``: login and logout, the pages, two JSON reads, the
static script and style sheet.

Every route but ``POST /ui/login`` and ``POST /ui/logout`` is a ``GET`` that changes nothing.
A page asked for without a session redirects to the login form (303); a JSON read without
one is the usual 401 problem. Each page reads through :class:`romana.api.ui.reads.Reads` in
the thread pool (:meth:`Context.offload`), as the user of the session, so it shows what the
REST API answers that user. None of these routes is in the OpenAPI document, and none asks
for a bearer token: :mod:`romana.api.limits` caps their bodies as it caps the login's.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from romana.api.context import Context
from romana.api.errors import status_of
from romana.api.ui import html, pages, reachability, session, views
from romana.api.ui.reads import Reads
from romana.core.errors import NotFound, RomanaError, Unauthorized

router = APIRouter(include_in_schema=False)
HOME = "/ui/topology"
STATIC = {"ui.js": "text/javascript", "ui.css": "text/css", "icon.svg": "image/svg+xml"}


def _redirect(to: str) -> Response:
    return session.secured(RedirectResponse(to, status_code=303))


def _html(text: str, status: int = 200) -> Response:
    return session.secured(HTMLResponse(text, status_code=status))


async def _page(request: Request, name: str, title: str, body: Callable[[Reads], str]) -> Response:
    """The page ``name`` for the session's user, or a redirect to the login form."""
    who = await session.viewer(request)
    if who is None:
        response = _redirect("/ui/login")
        if session.COOKIE in request.cookies:
            session.forget(request, response)  # expired or revoked: drop it
        return response
    ctx: Context = request.app.state.ctx
    markup = await ctx.offload(body, Reads(ctx, who))
    return _html(html.frame(title, markup, page=name, who=who))


async def _json(request: Request, read: Callable[[Reads], Any]) -> Response:
    who = await session.viewer(request)
    if who is None:
        raise Unauthorized("log in at /ui/login first")
    ctx: Context = request.app.state.ctx
    return session.secured(JSONResponse(await ctx.offload(read, Reads(ctx, who))))


@router.get("/ui")
async def home() -> Response:
    return _redirect(HOME)


@router.get("/ui/login")
async def login_form(request: Request) -> Response:
    if await session.viewer(request) is not None:
        return _redirect(HOME)
    return _html(html.login_page())


@router.post("/ui/login")
async def login(request: Request) -> Response:
    """Log in with the form's username and password; the token goes into the cookie."""
    session.same_origin(request)
    fields = await session.form(request)
    username = fields.get("username", "")
    try:
        token = await session.login(request, username, fields.get("password", ""))
    except RomanaError as exc:
        page = html.login_page(str(exc), error=True, username=username)
        return _html(page, status_of(exc))
    response = _redirect(HOME)
    session.keep(request, response, token)
    return response


@router.post("/ui/logout")
async def logout(request: Request) -> Response:
    """Revoke every token of the session's user, as ``POST /v1/auth/logout``; clear the cookie."""
    session.same_origin(request)
    who = await session.logout(request)
    message = "You are logged out." if who is not None else "You were not logged in."
    response = _html(html.login_page(message))
    session.forget(request, response)
    return response


@router.get("/ui/topology")
async def topology(request: Request) -> Response:
    return await _page(request, "topology", "Topology", pages.topology)


@router.get("/ui/plan")
async def plan(request: Request, address: str = "") -> Response:
    return await _page(request, "plan", "Address plan", lambda r: pages.plan(r, address.strip()))


@router.get("/ui/usage")
async def usage(request: Request) -> Response:
    return await _page(request, "usage", "Usage", pages.usage)


@router.get("/ui/tenants")
async def tenants(request: Request) -> Response:
    return await _page(request, "tenants", "Tenants and policies", pages.tenants)


@router.get("/ui/reach")
async def reach(
    request: Request,
    tenant: str = "",
    segment: str = "",
    namespace: str = "",
    host: str = "",
    port: str = reachability.DEFAULT_PORT,
) -> Response:
    choice = views.Choice(tenant, segment, namespace, host)
    return await _page(
        request, "reach", "Reachability", lambda r: reachability.page(r, choice, port)
    )


@router.get("/ui/reach/explain")
async def explain_page(request: Request) -> Response:
    q = request.query_params
    source, target, port = q.get("from", ""), q.get("to", ""), q.get("port", "")
    return await _page(
        request,
        "reach",
        "Reachability: one explanation",
        lambda r: reachability.explanation_html(r, source, target, port),
    )


@router.get("/ui/api/decode/{address}")
async def decode(request: Request, address: str) -> Response:
    """``GET /v1/decode/{address}``'s answer, for the decode box."""
    return await _json(request, lambda r: r.decode(address))


@router.get("/ui/api/explain")
async def explain(request: Request) -> Response:
    """``romana explain --json``'s answer for ``from``, ``to`` and ``port``."""
    q = request.query_params
    source, target, port = q.get("from", ""), q.get("to", ""), q.get("port", "")
    return await _json(request, lambda r: reachability.explanation(r, source, target, port))


@router.get("/ui/api/explain-html")
async def explain_fragment(request: Request) -> Response:
    """One cell's explanation as the markup the page shows (the script inserts it)."""
    q = request.query_params
    source, target, port = q.get("from", ""), q.get("to", ""), q.get("port", "")
    who = await session.viewer(request)
    if who is None:
        raise Unauthorized("log in at /ui/login first")
    ctx: Context = request.app.state.ctx
    markup = await ctx.offload(reachability.explanation_html, Reads(ctx, who), source, target, port)
    return _html(markup)


@router.get("/ui/static/{name}")
async def static(name: str) -> Response:
    if name not in STATIC:
        raise NotFound(f"no such resource: /ui/static/{name}")
    data = resources.files("romana.api.ui").joinpath("static", name).read_bytes()
    response = session.secured(Response(data, media_type=STATIC[name]))
    response.headers["Cache-Control"] = "no-cache"
    return response
