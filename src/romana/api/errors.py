"""Problem JSON for every error romanad answers.

A :class:`~romana.core.errors.RomanaError` is answered as the one table of
:mod:`romana.core.problems` renders it (the agent's local API answers the same way); this
module adds what only romanad has: the framework's own errors (a body that does not parse,
a path or method it does not serve), ``WWW-Authenticate`` and the catch-all. Every error
response is RFC 9457 problem JSON (``application/problem+json``):
``{"type": "about:blank", "title", "status", "detail", "issues"?}``. ``issues`` appears only
for validation errors, one ``{"field", "rule"}`` per problem, all of them at once.

Invariants:

* Bad input never yields a 5xx: a body that does not parse is 400, a body or parameter of the
  wrong shape is 422 naming each field, and the services' own checks raise InvalidInput (422).
  A value refused by a pattern of the schema gets the rule the services would quote.
* Temporary errors (Conflict, Throttled, Unavailable) carry ``Retry-After``; nothing else
  does, which is how a client tells a Conflict (retry) from an AlreadyExists (don't) on a 409.
* A refused quota is 403 with its own type, :data:`QUOTA_TYPE`, and members ``tenant``,
  ``quota``, ``limit`` and ``usage``: a client tells it from a missing right by the type, and
  neither is retried.
* A 401 carries ``WWW-Authenticate: Bearer``; a 405 carries ``Allow`` with every method the
  path serves.
* An error nobody mapped is a bug: logged with its traceback, answered 500 without details.
"""

from __future__ import annotations

import http
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from romana.core import errors, names, problems
from romana.wire.validate import field_path

log = logging.getLogger(__name__)

PROBLEM_TYPE = "application/problem+json"
QUOTA_TYPE = problems.QUOTA_TYPE


def status_of(exc: errors.RomanaError) -> int:
    """The HTTP status of ``exc``, from the one table (:mod:`romana.core.problems`)."""
    return problems.row_of(type(exc)).status


def problem(
    status: int,
    detail: str,
    *,
    issues: Sequence[errors.Issue] | None = None,
    headers: dict[str, str] | None = None,
    kind: str = problems.ABOUT_BLANK,
    members: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": kind,
        "title": http.HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if issues is not None:
        body["issues"] = [{"field": i.field, "rule": i.rule} for i in issues]
    body.update(members or {})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_TYPE)


def from_error(exc: errors.RomanaError) -> JSONResponse:
    answer = problems.render(exc)
    headers = dict(answer.headers)
    if answer.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(
        answer.body, status_code=answer.status, headers=headers, media_type=PROBLEM_TYPE
    )


def _field(loc: Sequence[int | str]) -> str:
    """``("body", "labels", "rack")`` → ``labels.rack``; ``("query", "wait")`` → ``query.wait``;
    list positions as ``[i]``."""
    return field_path(tuple(loc[1:]) if loc and loc[0] == "body" else tuple(loc))


def _issue(error: Mapping[str, Any]) -> errors.Issue:
    """One pydantic error as an issue. A pattern the services check too is refused with
    their rule (:data:`romana.core.names.RULES`), not pydantic's "should match pattern"; a
    dict key's error names the dict as its field, and the key in its rule, as the services
    do for labels."""
    loc = tuple(error.get("loc", ()))
    rule = str(error.get("msg", ""))
    pattern = str((error.get("ctx") or {}).get("pattern"))
    known = names.RULES.get(pattern) if error.get("type") == "string_pattern_mismatch" else None
    if loc[-1:] == ("[key]",):
        return errors.Issue(
            _field(loc[:-2]), f"key {error.get('input')!r} {known or f'is refused: {rule}'}"
        )
    if known:
        rule = f"{error.get('input')!r} {known}"
    return errors.Issue(_field(loc), rule)


def from_validation(exc: RequestValidationError) -> JSONResponse:
    raw: Sequence[Any] = exc.errors()
    if any(e.get("type") == "json_invalid" for e in raw):
        reason = next(e for e in raw if e.get("type") == "json_invalid")
        detail = reason.get("ctx", {}).get("error", "") or reason.get("msg", "")
        return problem(
            400,
            f"request body is not valid JSON: {detail}",
            issues=[errors.Issue("body", "must be valid JSON")],
        )
    issues = [_issue(e) for e in raw]
    detail = "; ".join(str(i) for i in issues) or "invalid request"
    return problem(422, detail, issues=issues)


def allowed_methods(request: Request) -> str:
    """Every method some route serves at the request's path, for a 405's ``Allow``.

    The router stops at the first route whose path matches; several routes often share a path
    (``GET`` and ``POST /v1/tenants``), so the methods of all of them are collected here.
    """
    methods: set[str] = set()
    for route in getattr(request.app.state, "endpoints", request.app.router.routes):
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches(request.scope)
            if match is not Match.NONE:
                methods |= route.methods
    return ", ".join(sorted(methods))


def install(app: FastAPI) -> None:
    """Register the handlers that turn every exception into problem JSON."""

    async def romana_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, errors.RomanaError)
        if status_of(exc) >= 500:
            log.warning("request failed: %s", exc)
        return from_error(exc)

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return from_validation(exc)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code in (404, 405):
            # 405 too: a root without ``auth`` serves POST /v1/users but not GET.
            elsewhere = getattr(request.app.state, "elsewhere", None)
            if elsewhere is not None:
                hint = elsewhere(request.scope)
                if hint is not None:
                    return problem(404, hint)
        if exc.status_code == 404:
            return problem(404, f"no such resource: {request.url.path}")
        if exc.status_code == 405:
            allow = allowed_methods(request)
            return problem(
                405,
                f"{request.method} is not allowed on {request.url.path}; allowed: {allow}",
                headers={**(exc.headers or {}), "Allow": allow},
            )
        issues = [errors.Issue("body", "must be valid JSON")] if exc.status_code == 400 else None
        return problem(
            exc.status_code, str(exc.detail), issues=issues, headers=dict(exc.headers or {})
        )

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
        return problem(500, "internal error; see the romanad log")

    app.add_exception_handler(errors.RomanaError, romana_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
