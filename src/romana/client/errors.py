"""HTTP problem responses and transport failures → the project's exception tree.

An error response is turned back into its error by :func:`romana.core.problems.error_of`,
the one inverse of the table both servers answer from (docs/api.md); this module says only
what the statuses no error class gives mean to a client of romanad:

======  ==========================================================================
status  error
======  ==========================================================================
405     Unsupported (the server does not offer this call)
other   4xx: InvalidInput; 5xx (500 included): Unavailable, so that another
        instance is tried
======  ==========================================================================

Every mapped error is chained to a :class:`~romana.client.transport.HTTPStatusError` that holds
the response, and every transport failure (refused, reset, timed out) becomes
:class:`Unavailable` chained to the :class:`~romana.client.transport.TransportError`. A failed
TLS handshake (a server certificate the client does not trust, a client certificate the server
requires) is :class:`TlsFailure`, an Unavailable that is not temporary: retrying cannot fix a
configuration, so it is never retried, and its message names the URL and the setting to give
(``romana.client.tls``).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any, Protocol

from romana.client import tls
from romana.client.transport import (
    HTTPStatusError,
    RemoteProtocolError,
    Response,
    TransportError,
)
from romana.core import problems
from romana.core.errors import InvalidInput, RomanaError, Unavailable, Unsupported


class Answer(Protocol):
    """What the mapping reads of an answer: a :class:`~romana.client.transport.Response`, or
    an ``httpx.Response`` alike."""

    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def text(self) -> str: ...
    @property
    def reason_phrase(self) -> str: ...
    def json(self) -> Any: ...


def retry_after(response: Answer) -> float | None:
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


def _problem(response: Answer) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _message(response: Answer, problem: dict[str, Any]) -> str:
    detail = problem.get("detail")
    if isinstance(detail, str) and detail:
        return detail
    title = problem.get("title")
    if isinstance(title, str) and title:
        return title
    text = response.text.strip().splitlines()
    if not text or "html" in response.headers.get("content-type", ""):
        # A page's first line (<!DOCTYPE html>) says nothing; its status says what happened.
        return f"HTTP {response.status_code} {response.reason_phrase}"
    return text[0]


def from_response(response: Answer) -> RomanaError:
    """The project error that an error response stands for (status >= 400)."""
    status = response.status_code
    problem = _problem(response)
    message = _message(response, problem)
    after = retry_after(response)
    error = problems.error_of(status, problem, message, after)
    if error is not None:
        return error
    if status == 405:
        return Unsupported(message)
    if status >= 500:
        return Unavailable(message, retry_after=after)
    return InvalidInput(problems.issues_of(problem) or message)


def raise_for_status(response: Response) -> None:
    """Raise the mapped project error, chained to the answer, when the response is an error."""
    if response.status_code < 400:
        return
    error = from_response(response)
    cause = HTTPStatusError(
        f"{response.request.method} {response.request.url} → {response.status_code}",
        response=response,
    )
    raise error from cause


class TlsFailure(Unavailable):
    """The TLS handshake with a server failed: its certificate was not accepted, or it wants
    a client certificate. A configuration error, so not temporary."""

    temporary = False


def from_transport(exc: TransportError, url: str) -> Unavailable:
    """A transport failure (refused, reset, timed out) as Unavailable naming the instance;
    a TLS handshake failure as TlsFailure saying what to configure."""
    described = tls.describe_failure(exc, url)
    if described is not None:
        return TlsFailure(described)
    reason = str(exc) or type(exc).__name__
    if url.startswith("https://") and isinstance(exc, RemoteProtocolError):
        # Under TLS 1.3 a server refuses a missing client certificate after the handshake,
        # by closing the connection; the client sees only that.
        reason += (
            " (a romanad that requires client certificates closes connections without one: "
            "give --client-cert and --client-key)"
        )
    return Unavailable(f"{url}: {reason}")


def reached_server(exc: TransportError) -> bool:
    """False only when the request certainly never reached the server (no connection)."""
    return exc.reached
