"""Thin HTTP handlers, one module per service: parse, authorise, call the service, serialise.

Each module exposes ``SERVICE`` (its name in ``--services``) and ``router``. Handlers that
touch the store are plain ``def`` so FastAPI runs them in its thread pool, or, on the agents'
busiest paths, coroutines that make one call to the pool for all their store work (the agent
view, whose long poll waits on :mod:`romana.api.storewatch`; allocations). A POST that is safe to
repeat declares its two answers with :func:`repeatable_post` and gives them with
:func:`answer_made`, so that 201 and 200 mean the same on every such route.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from romana.api import audit
from romana.wire import rest

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": rest.Problem, "description": text}
    for status, text in (
        (400, "The body is not valid JSON."),
        (401, "No token, or an expired, forged or revoked one."),
        (403, "The token does not grant this."),
        (404, "Not found, or served by another process."),
        (409, "Exists already, or a conflicting change (then with Retry-After)."),
        (422, "Invalid input; every problem in issues."),
        (503, "A dependency is unavailable (Retry-After)."),
        (507, "Address, tenant or segment space exhausted."),
    )
}
"""Error responses every route may give, for the OpenAPI document."""


def repeatable_post(model: type, found: str) -> dict[str, Any]:
    """The route arguments of a POST that is safe to repeat: 201 with what it made, or 200
    with what it found already there, ``found`` saying what that 200 means."""
    return {
        "response_model": model,
        "status_code": 201,
        "responses": {200: {"model": model, "description": found}},
    }


def answer_made(request: Request, response: Response, created: bool, name: str) -> None:
    """Answer a :func:`repeatable_post`: 200 when ``created`` is false (it was there already),
    and name the object (``vips/web``) for the audit line either way."""
    if not created:
        response.status_code = 200
    audit.name_object(request, name)
