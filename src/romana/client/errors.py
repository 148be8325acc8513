"""HTTP problem responses and transport failures → the project's exception tree.

This is the inverse of the server's table in ``romana.api`` (docs/api.md), kept in one place:

======  ==========================================================================
status  error
======  ==========================================================================
400     InvalidInput (malformed request)
401     Unauthorized
403     QuotaExceeded when the problem's type is ``…/quota-exceeded``, else Forbidden
404     NotFound
405     Unsupported (the server does not offer this call)
409     Conflict when the response carries ``Retry-After``, else AlreadyExists
422     InvalidInput when the problem lists ``issues``, else Unsupported
429     Throttled (temporary: too many logins, retry after ``Retry-After``)
507     Exhausted
other   4xx: InvalidInput; 5xx: Unavailable
======  ==========================================================================

Every mapped error is chained to an :class:`httpx.HTTPStatusError` that holds the response, and
every transport failure (refused, reset, timed out) becomes :class:`Unavailable` chained to the
httpx exception. A failed TLS handshake (a server certificate the client does not trust, a
client certificate the server requires) is :class:`TlsFailure`, an Unavailable that is not
temporary: retrying cannot fix a configuration, so it is never retried, and its message names
the URL and the setting to give (``romana.client.tls``).
"""

from __future__ import annotations

import email.utils
import time
from typing import Any

import httpx

from romana.client import tls
from romana.core.errors import (
    AlreadyExists,
    Conflict,
    Exhausted,
    Forbidden,
    InvalidInput,
    Issue,
    NotFound,
    QuotaExceeded,
    RomanaError,
    Throttled,
    Unauthorized,
    Unavailable,
    Unsupported,
)

_BY_STATUS: dict[int, type[RomanaError]] = {
    400: InvalidInput,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: Unsupported,
    409: AlreadyExists,
    422: InvalidInput,
    429: Throttled,
    507: Exhausted,
}


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), or None."""
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _message(response: httpx.Response, problem: dict[str, Any]) -> str:
    detail = problem.get("detail")
    if isinstance(detail, str) and detail:
        return detail
    title = problem.get("title")
    if isinstance(title, str) and title:
        return title
    text = response.text.strip().splitlines()
    return text[0] if text else f"HTTP {response.status_code} {response.reason_phrase}"


def _issues(problem: dict[str, Any]) -> list[Issue]:
    raw = problem.get("issues")
    if not isinstance(raw, list):
        return []
    return [
        Issue(str(item.get("field", "")), str(item.get("rule", "")))
        for item in raw
        if isinstance(item, dict)
    ]


def from_response(response: httpx.Response) -> RomanaError:
    """The project error that an error response stands for (status >= 400)."""
    status = response.status_code
    problem = _problem(response)
    message = _message(response, problem)
    after = retry_after(response)
    kind = _BY_STATUS.get(status)
    if kind is None:
        kind = Unavailable if status >= 500 else InvalidInput
    if status == 409 and after is not None:
        kind = Conflict
    if status == 403 and str(problem.get("type", "")).endswith("/quota-exceeded"):
        return _quota(message, problem)
    issues = _issues(problem)
    if status == 422 and not issues:
        kind = Unsupported
    if kind is InvalidInput:
        error: RomanaError = InvalidInput(issues or message)
        if issues and message:
            error.message = message
            error.args = (message,)
        return error
    return kind(message, retry_after=after)


def _quota(message: str, problem: dict[str, Any]) -> QuotaExceeded:
    def number(key: str) -> int:
        value = problem.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    return QuotaExceeded(
        str(problem.get("tenant", "")),
        str(problem.get("quota", "")),
        number("limit"),
        number("usage"),
        message=message,
    )


def raise_for_status(response: httpx.Response) -> None:
    """Raise the mapped project error, chained to httpx's, when the response is an error."""
    if response.status_code < 400:
        return
    error = from_response(response)
    cause = httpx.HTTPStatusError(
        f"{response.request.method} {response.request.url} → {response.status_code}",
        request=response.request,
        response=response,
    )
    raise error from cause


class TlsFailure(Unavailable):
    """The TLS handshake with a server failed: its certificate was not accepted, or it wants
    a client certificate. A configuration error, so not temporary."""

    temporary = False


def from_transport(exc: httpx.TransportError, url: str) -> Unavailable:
    """A transport failure (refused, reset, timed out) as Unavailable naming the instance;
    a TLS handshake failure as TlsFailure saying what to configure."""
    described = tls.describe_failure(exc, url)
    if described is not None:
        return TlsFailure(described)
    reason = str(exc) or type(exc).__name__
    if url.startswith("https://") and isinstance(exc, httpx.RemoteProtocolError):
        # Under TLS 1.3 a server refuses a missing client certificate after the handshake,
        # by closing the connection; the client sees only that.
        reason += (
            " (a romanad that requires client certificates closes connections without one: "
            "give --client-cert and --client-key)"
        )
    return Unavailable(f"{url}: {reason}")


def reached_server(exc: httpx.TransportError) -> bool:
    """False only when the request certainly never reached the server (no connection)."""
    return not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
