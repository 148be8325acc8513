"""The one table from the exception tree to everything outside a process, and its inverse.

Each class of :mod:`romana.core.errors` that can leave a process has one :class:`Row`: its
HTTP status and problem type (RFC 9457), the exit code and label of the ``romana`` CLI, and
the CNI error code and message of the plugin. Every boundary reads :data:`TABLE` and nothing
else: romanad's handlers and the agent's local API answer :func:`render`, the CLI exits with
``row_of(...).exit_code``, the CNI plugin answers ``row_of(...).cni_code``, and every client,
of romanad or of the agent, turns an error answer back into an error with :func:`error_of`.

===============  ======  ==============  ==================  ==========================
error            status  problem type    CLI exit            CNI code
===============  ======  ==============  ==================  ==========================
InvalidInput     422     about:blank     3 invalid input     7 (4 for a CNI_* variable)
NotFound         404     about:blank     4 not found         3 (CHECK: 102; DEL: none)
AlreadyExists    409     about:blank     5 already exists    101
Conflict         409     about:blank     6 conflict          11 try again later
Exhausted        507     about:blank     7 exhausted         11 try again later
QuotaExceeded    403     QUOTA_TYPE      12 quota exceeded   100 (no retry helps)
Unauthorized     401     about:blank     8 unauthorized      100
Forbidden        403     about:blank     9 forbidden         100
Unavailable      503     about:blank     10 unavailable      11 try again later
Throttled        429     about:blank     1 error             100
Unsupported      422     about:blank     11 unsupported      2
RomanaError      500     about:blank     1 error             100
===============  ======  ==============  ==================  ==========================

The command-dependent CNI refinements in parentheses are the plugin's
(``integrations/cni/commands.py``); the codes here are the spec's numbers
(``integrations/cni/spec.py`` names them).

Invariants:

* Every direct subclass of :class:`RomanaError` has a row. A deeper class (``Compacted``, a
  client's ``TlsFailure``) takes the row of its nearest ancestor, on the wire and off it.
* Two rows share a status only when the answer tells them apart by something else: the
  problem type (QuotaExceeded), ``Retry-After`` (only temporary errors carry it: Conflict,
  Throttled, Unavailable) or ``issues`` (InvalidInput always lists them, nothing else does).
  So ``error_of`` of a rendered error is an error of the same row's class, with the same
  message, issues, quota members and ``retry_after`` (rounded up to whole seconds).
* The root's 500 is a bug in the server, not a class of the tree: :func:`error_of` answers
  None for it, as for every status no row has, and each client says what those mean to it.
* Standard library only, and neither ``http`` nor ``dataclasses``: the CNI plugin imports
  this module on every invocation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

from romana.core import errors

ABOUT_BLANK = "about:blank"
"""The problem type of every error whose status and members say all there is (RFC 9457)."""
QUOTA_TYPE = "https://romana.io/problems/quota-exceeded"
"""The type of a refused quota: a 403 that is not a missing right, and carries members."""


class Row(NamedTuple):
    """How one error class looks outside the process."""

    status: int
    title: str
    """The status's reason phrase (``http.HTTPStatus``; repeated here to keep ``http`` out)."""
    type: str
    exit_code: int
    exit_label: str
    cni_code: int
    cni_msg: str


_AGENT_FAILED = "romana-agent failed the request"

TABLE: Mapping[type[errors.RomanaError], Row] = {
    errors.InvalidInput: Row(
        422,
        "Unprocessable Entity",
        ABOUT_BLANK,
        3,
        "invalid input",
        7,
        "invalid network configuration",
    ),
    errors.NotFound: Row(404, "Not Found", ABOUT_BLANK, 4, "not found", 3, "container unknown"),
    errors.AlreadyExists: Row(
        409, "Conflict", ABOUT_BLANK, 5, "already exists", 101, "interface already exists"
    ),
    errors.Conflict: Row(409, "Conflict", ABOUT_BLANK, 6, "conflict", 11, "try again later"),
    errors.Exhausted: Row(
        507, "Insufficient Storage", ABOUT_BLANK, 7, "exhausted", 11, "no address available"
    ),
    errors.QuotaExceeded: Row(
        403, "Forbidden", QUOTA_TYPE, 12, "quota exceeded", 100, "tenant quota exceeded"
    ),
    errors.Unauthorized: Row(
        401, "Unauthorized", ABOUT_BLANK, 8, "unauthorized", 100, _AGENT_FAILED
    ),
    errors.Forbidden: Row(403, "Forbidden", ABOUT_BLANK, 9, "forbidden", 100, _AGENT_FAILED),
    errors.Unavailable: Row(
        503, "Service Unavailable", ABOUT_BLANK, 10, "unavailable", 11, "try again later"
    ),
    # Only romanad's logins throttle: the CLI's catch-all code, and no CNI path meets it.
    errors.Throttled: Row(429, "Too Many Requests", ABOUT_BLANK, 1, "error", 100, _AGENT_FAILED),
    errors.Unsupported: Row(
        422, "Unprocessable Entity", ABOUT_BLANK, 11, "unsupported", 2, "unsupported configuration"
    ),
    errors.RomanaError: Row(
        500, "Internal Server Error", ABOUT_BLANK, 1, "error", 100, _AGENT_FAILED
    ),
}
"""Error class → how it looks outside; subclasses take their nearest ancestor's row."""


def row_of(kind: type[errors.RomanaError]) -> Row:
    """The row of ``kind``: its own, or its nearest ancestor's."""
    for cls in kind.__mro__:
        row = TABLE.get(cls)
        if row is not None:
            return row
    return TABLE[errors.RomanaError]


class Answer(NamedTuple):
    """An error as an HTTP answer: status, problem JSON body and headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str]


def render(exc: errors.RomanaError) -> Answer:
    """The problem answer for ``exc``: ``{"type", "title", "status", "detail", "issues"?}``,
    the quota members for a refused quota, and ``Retry-After`` exactly when it is temporary."""
    row = row_of(type(exc))
    body: dict[str, Any] = {
        "type": row.type,
        "title": row.title,
        "status": row.status,
        "detail": exc.message,
    }
    if isinstance(exc, errors.InvalidInput):
        body["issues"] = [{"field": i.field, "rule": i.rule} for i in exc.issues]
    if isinstance(exc, errors.QuotaExceeded):
        body.update(tenant=exc.tenant, quota=exc.quota, limit=exc.limit, usage=exc.usage)
    headers: dict[str, str] = {}
    if exc.temporary:
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after or 1)))
    return Answer(row.status, body, headers)


def _key(kind: type[errors.RomanaError]) -> tuple[int, str, bool, bool]:
    """What an answer shows of its class: status, type, ``Retry-After``, ``issues``."""
    row = TABLE[kind]
    return row.status, row.type, kind.temporary, issubclass(kind, errors.InvalidInput)


_ON_THE_WIRE = tuple(kind for kind in TABLE if kind is not errors.RomanaError)


def class_of(
    status: int, kind: str = ABOUT_BLANK, *, temporary: bool = False, issues: bool = False
) -> type[errors.RomanaError] | None:
    """The class an answer stands for, or None when no row has its status.

    The row whose :func:`_key` the answer shows; when none does exactly (a 503 without
    ``Retry-After``, a 403 of another type), the row of that status that agrees most: on the
    type, else a plain ``about:blank`` row, then on ``Retry-After``, then on ``issues``. A 400
    is InvalidInput: both servers answer it for a body that does not parse, before any
    handler runs.
    """
    if status == 400:
        return errors.InvalidInput
    rows = [k for k in _ON_THE_WIRE if TABLE[k].status == status]
    if not rows:
        return None

    def agreement(k: type[errors.RomanaError]) -> tuple[bool, bool, bool, bool]:
        _, row_type, row_temporary, row_issues = _key(k)
        return (
            row_type == kind,
            row_type == ABOUT_BLANK,
            row_temporary == temporary,
            row_issues == issues,
        )

    return max(rows, key=agreement)


def issues_of(problem: Mapping[str, Any]) -> list[errors.Issue]:
    """The ``issues`` of a problem body; one built from ``field`` when it has none."""
    raw = problem.get("issues")
    if isinstance(raw, list):
        return [
            errors.Issue(str(item.get("field", "")), str(item.get("rule", "")))
            for item in raw
            if isinstance(item, dict)
        ]
    field = problem.get("field")
    if isinstance(field, str) and field:
        return [errors.Issue(field, str(problem.get("detail", "")))]
    return []


def error_of(
    status: int, problem: Mapping[str, Any], message: str, retry_after: float | None = None
) -> errors.RomanaError | None:
    """The error an answer stands for: the inverse of :func:`render`, for every client.

    ``problem`` is the decoded body (empty when it was not JSON), ``message`` what the error
    should say (the ``detail``, perhaps naming the server), ``retry_after`` the seconds of a
    ``Retry-After`` header, None without one. None when no row has the status.
    """
    issues = issues_of(problem)
    kind = class_of(
        status,
        str(problem.get("type", ABOUT_BLANK)),
        temporary=retry_after is not None,
        issues=bool(issues),
    )
    if kind is None:
        return None
    if issubclass(kind, errors.InvalidInput):
        error = errors.InvalidInput(issues or message)
        error.message = message
        error.args = (message,)
        return error
    if issubclass(kind, errors.QuotaExceeded):
        return errors.QuotaExceeded(
            str(problem.get("tenant", "")),
            str(problem.get("quota", "")),
            _count(problem.get("limit")),
            _count(problem.get("usage")),
            message=message,
        )
    return kind(message, retry_after=retry_after)


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
