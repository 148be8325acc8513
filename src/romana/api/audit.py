"""The audit log: one JSON line per login, per refusal (401, 403) and per change.

Records go to the logger ``romana.audit`` (:data:`LOG`), which :func:`romana.logs.setup_audit`
sends, message only, to stderr or to the ``audit_log`` file. Each line is one JSON object::

    {"ts", "event", "user", "role", "source", "method", "path", "object", "status"}

``event`` is ``login`` or ``login_failed`` (written by the token route, every attempt,
throttled ones included), ``unauthorized`` (any 401), ``forbidden`` (any 403) or ``change``
(a request that is not ``GET``, ``HEAD`` or ``OPTIONS`` and was answered 2xx; a redirect or
an error changed nothing). ``user`` and ``role`` are the verified caller, null when unknown;
``source`` the client address; ``ts`` Unix seconds. ``object`` is what the request changed,
named as its URL below ``/v1/`` would name it: the handler names it with :func:`name_object`
where the path does not (a creation names what it created, ``users/alice`` for ``POST
/v1/users``; a policy its resolved id, ``policies/ta/p1``; a batch its objects,
comma-separated); otherwise it is the path below ``/v1/``.

Invariants:

* :class:`Audit` is a pure ASGI middleware outside every other one, so refusals by
  :mod:`romana.api.limits` are recorded as well; it never changes a request or an answer.
* A line is written before its answer is sent: an acknowledged change is already in the log.
* A request a handler recorded itself (marked with :data:`AUDITED` in its scope) is not
  recorded again: one line per event.
* Secrets (passwords, tokens) are never recorded.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.requests import HTTPConnection
from starlette.types import Message, Scope

from romana.api.onanswer import OnAnswer
from romana.services import auth

LOG = logging.getLogger("romana.audit")
PRINCIPAL = "romana.principal"
"""Scope key under which :mod:`romana.api.context` leaves the verified caller."""
AUDITED = "romana.audited"
"""Scope key a handler sets once it recorded its request itself."""
OBJECT = "romana.object"
"""Scope key under which a handler names the object its request changed."""
READS = frozenset({"GET", "HEAD", "OPTIONS"})
_encode = json.JSONEncoder(separators=(",", ":")).encode
"""One line's JSON; built once, as :func:`json.dumps` with options builds an encoder per call."""


def source_of(scope: Scope) -> str:
    """The client address of a request ("unknown" when the server does not say)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def name_object(request: HTTPConnection, name: str, *more: str) -> None:
    """Name what this request changed (``users/alice``, ``policies/ta/p1``), for its audit
    line: the path alone says only ``users`` for a creation, or a bare policy name that a
    later policy of another tenant could make mean something else."""
    request.scope[OBJECT] = ",".join((name, *more))


def record(
    event: str,
    *,
    scope: Scope,
    status: int,
    user: str | None = None,
    role: str | None = None,
) -> None:
    """Write one audit line for the request of ``scope``; the caller is taken from the scope
    unless ``user`` is given."""
    caller = scope.get(PRINCIPAL)
    if user is None and isinstance(caller, auth.Principal):
        user, role = caller.username, str(caller.role)
    path = str(scope.get("path", ""))
    named = scope.get(OBJECT)
    line: dict[str, Any] = {
        "ts": round(time.time(), 3),
        "event": event,
        "user": user,
        "role": role,
        "source": source_of(scope),
        "method": scope.get("method"),
        "path": path,
        "object": named if isinstance(named, str) else path.removeprefix("/v1/"),
        "status": status,
    }
    LOG.info("%s", _encode(line))


class Audit(OnAnswer):
    """The ASGI middleware recording refusals and changes of every HTTP request to ``app``."""

    def started(self, scope: Scope, message: Message) -> None:
        # The line is written before the answer leaves: a client that saw its change
        # acknowledged finds it in the audit log, even if romanad dies the next moment.
        status = int(message["status"])
        event = _event(str(scope.get("method", "")), status)
        if event is not None and not scope.get(AUDITED):
            record(event, scope=scope, status=status)


def _event(method: str, status: int) -> str | None:
    if status == 401:
        return "unauthorized"
    if status == 403:
        return "forbidden"
    if 200 <= status < 300 and method not in READS:
        return "change"
    return None
