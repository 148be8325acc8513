"""Thin HTTP handlers, one module per service: parse, authorise, call the service, serialise.

Each module exposes ``SERVICE`` (its name in ``--services``) and ``router``. Handlers that
touch the store are plain ``def`` so FastAPI runs them in its thread pool; only the agent
view's long poll is ``async`` (see :mod:`romana.api.storewatch`).
"""

from __future__ import annotations

from typing import Any

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
