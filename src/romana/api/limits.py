"""Request limits, enforced before any handler runs: who may send a body, how large, how slow.

:class:`BodyLimits` is a pure ASGI middleware around the app. For an HTTP request that declares
a body (``Content-Length`` above 0, or ``Transfer-Encoding``), in this order:

1. Unless the route it is for never asks who is calling (login, ``POST /v1/auth/token``), the
   caller is authenticated from the headers, exactly as the
   :data:`~romana.api.context.Caller` dependency does it (:func:`~romana.api.context.authenticate`).
   A failure is the usual 401 problem. A body no route takes (no such path, or not with that
   method) is never read: the app answers 404 or 405 from the request line, and the
   connection closes.
2. A ``Content-Length`` over the cap is answered 413 at once. The cap is ``max_body_bytes``
   (``--max-body-bytes``); a body for a route that takes no token gets
   :data:`PUBLIC_MAX_BODY_BYTES`.
3. The body is read part by part, each within ``body_timeout`` seconds of the previous one
   and the whole within ``body_deadline`` seconds of the first read (else 408), its bytes
   counted whatever the header claimed (over the cap: 413), and handed to the app whole.
   The deadline is what ends a body trickled a byte at a time just inside the timeout.

Invariants:

* Not one byte of a body is read before steps 1 and 2 pass, and no more than the cap (plus
  one part of at most the server's read size) is ever held for one request.
* Every answer given here is problem JSON with ``Connection: close``: the unread rest of a
  body is never read, the connection ends with the answer.
* Requests without a body, and everything that is not HTTP, pass through untouched.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from romana.api import context, errors, routeindex
from romana.api.settings import RomanadSettings
from romana.core import errors as core

PUBLIC_MAX_BODY_BYTES = 16 * 1024
"""Cap on a body that no token vouches for (login credentials are a few dozen bytes)."""


def _depends_on(dependant: Dependant, call: object) -> bool:
    return dependant.call is call or any(_depends_on(d, call) for d in dependant.dependencies)


def _raise_hint(settings: RomanadSettings) -> str:
    """How an operator raises the cap, named from the setting itself so it cannot drift."""
    field = next(f for f in dataclasses.fields(settings) if f.name == "max_body_bytes")
    return (
        f"raise it with {field.metadata['flag']} or {field.metadata['env']} "
        f"(setting max_body_bytes, now {settings.max_body_bytes})"
    )


class BodyLimits:
    """The ASGI middleware over ``app``, whose endpoints are ``routes`` (all of them, flat)."""

    def __init__(self, app: ASGIApp, *, settings: RomanadSettings, routes: Sequence[BaseRoute]):
        self.app = app
        self.max_bytes = settings.max_body_bytes
        self.timeout = settings.body_timeout
        self.deadline = settings.body_deadline
        self.hint = _raise_hint(settings)
        api_routes = [route for route in routes if isinstance(route, APIRoute)]
        self.routes = routeindex.RouteIndex(api_routes)
        self.public = {
            id(route): not _depends_on(route.dependant, context.principal) for route in api_routes
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, chunked = _declared(scope)
        if not chunked and not declared:
            await self.app(scope, receive, send)
            return
        public = self._route(scope)
        if public is None:
            # No route takes this body (another process serves the path, or none does, or
            # not with this method): the app answers 404 or 405 from the request line
            # alone, so the body is never read.
            await self.app(scope, _no_body, _closing(send))
            return
        cap = min(self.max_bytes, PUBLIC_MAX_BODY_BYTES) if public else self.max_bytes
        if not public:
            try:
                await context.authenticate(HTTPConnection(scope))
            except core.RomanaError as exc:
                await _answer(errors.from_error(exc), scope, receive, send)
                return
        if declared is not None and declared > cap:
            await _answer(self._too_large(cap, declared, public), scope, receive, send)
            return
        body = await self._read(scope, receive, send, cap, public)
        if body is None:
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _read(
        self, scope: Scope, receive: Receive, send: Send, cap: int, public: bool
    ) -> bytes | None:
        """The whole body, or None once a limit answered (or the client went away)."""
        parts: list[bytes] = []
        size = 0
        more = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.deadline
        while more:
            left = deadline - loop.time()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, min(self.timeout, left)))
            except TimeoutError:
                response = self._too_slow(size, whole=left < self.timeout)
                await _answer(response, scope, receive, send)
                return None
            if message["type"] == "http.disconnect":
                return None
            part: bytes = message.get("body", b"")
            size += len(part)
            if size > cap:
                await _answer(self._too_large(cap, None, public), scope, receive, send)
                return None
            parts.append(part)
            more = bool(message.get("more_body", False))
        return b"".join(parts)

    def _too_slow(self, size: int, *, whole: bool) -> Response:
        """The 408 for a body that stalled (``whole`` False) or outlasted the deadline."""
        if whole:
            detail = (
                f"the request body did not arrive within {self.deadline:g} s "
                f"(received {size} bytes); send it at once"
            )
            rule = f"must arrive whole within {self.deadline:g} s"
        else:
            detail = (
                f"no part of the request body arrived for {self.timeout:g} s "
                f"(received {size} bytes); send the body without pausing"
            )
            rule = f"must keep arriving within {self.timeout:g} s"
        return errors.problem(408, detail, issues=[core.Issue("body", rule)])

    def _too_large(self, cap: int, declared: int | None, public: bool) -> Response:
        size = f"of {declared} bytes " if declared is not None else ""
        how = "a body that needs no token is never larger" if public else self.hint
        return errors.problem(
            413,
            f"request body {size}is larger than the limit of {cap} bytes; {how}",
            issues=[core.Issue("body", f"must be at most {cap} bytes")],
        )

    def _route(self, scope: Scope) -> bool | None:
        """Whether the route serving this method and path never asks who the caller is;
        None when no route serves them."""
        match, _, route = self.routes.match(scope)
        return self.public[id(route)] if match is Match.FULL else None


def _declared(scope: Scope) -> tuple[int | None, bool]:
    """``Content-Length`` (None when absent) and whether a ``Transfer-Encoding`` is sent."""
    length: int | None = None
    chunked = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = None
        elif name == b"transfer-encoding":
            chunked = True
    return length, chunked


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _closing(send: Send) -> Send:
    """``send`` with ``Connection: close`` on the response: the unread body ends with it."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k != b"connection"]
            message = {**message, "headers": [*headers, (b"connection", b"close")]}
        await send(message)

    return wrapped


async def _answer(response: Response, scope: Scope, receive: Receive, send: Send) -> None:
    response.headers["Connection"] = "close"
    await response(scope, receive, send)
