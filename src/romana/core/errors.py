"""The one exception tree of the project.

Every layer raises these and every boundary maps them with one table,
:mod:`romana.core.problems`: HTTP status and problem type for romanad and the agent (and its
inverse for every client), CLI exit codes, CNI error codes. Foreign exceptions
(sqlite3, httpx, netlink) are translated at the adapter that meets them and chained with
``raise ... from exc``.

::

    RomanaError
    ├── InvalidInput        bad request data; carries every problem found, each naming a field
    ├── NotFound            the named object does not exist
    ├── AlreadyExists       an object with that identity exists already
    ├── Conflict            a concurrent change won, or the state forbids the change (temporary)
    ├── Exhausted           a pool, field or address space is full; names the capacity
    ├── QuotaExceeded       a tenant reached a quota an admin set; names limit, usage, the fix
    ├── Unauthorized        no credential, or a credential that is not valid
    ├── Forbidden           a valid credential without the right to do this
    ├── Unavailable         a dependency (store, agent, service) cannot be reached (temporary)
    │   └── Compacted       a watch asked for history the store no longer keeps
    ├── Throttled           too many attempts, or too many at once (temporary, 429)
    └── Unsupported         the request is valid but this backend cannot express it

Temporary errors carry ``retry_after`` (seconds, or None); retries are decided by
``is_temporary`` alone, never by matching on message text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator


class Issue:
    """One problem found in input: the field path at fault and the rule it broke.

    A plain immutable class rather than a dataclass: this module is imported by the CNI
    plugin on every invocation, and ``dataclasses`` (with ``inspect``) costs ~12 ms to import.
    """

    __slots__ = ("field", "rule")
    field: str
    rule: str

    def __init__(self, field: str, rule: str) -> None:
        object.__setattr__(self, "field", field)
        object.__setattr__(self, "rule", rule)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Issue is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Issue) and (self.field, self.rule) == (other.field, other.rule)

    def __hash__(self) -> int:
        return hash((self.field, self.rule))

    def __repr__(self) -> str:
        return f"Issue(field={self.field!r}, rule={self.rule!r})"

    def __str__(self) -> str:
        return f"{self.field}: {self.rule}" if self.field else self.rule


class RomanaError(Exception):
    """Base of every error the project raises on purpose."""

    temporary: bool = False

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.message


class InvalidInput(RomanaError):
    """Input broke one or more rules; ``issues`` lists every one of them."""

    def __init__(self, issues: Iterable[Issue] | str, *, context: str = "") -> None:
        if isinstance(issues, str):
            issues = [Issue("", issues)]
        self.issues: tuple[Issue, ...] = tuple(issues)
        text = "; ".join(str(i) for i in self.issues) or "invalid input"
        super().__init__(f"{context}: {text}" if context else text)


class NotFound(RomanaError):
    """The named object does not exist."""


class AlreadyExists(RomanaError):
    """An object with the same identity exists already."""


class Conflict(RomanaError):
    """A concurrent change won the race, or the current state forbids the change."""

    temporary = True


class Exhausted(RomanaError):
    """A pool, field or address space is full."""


class QuotaExceeded(RomanaError):
    """A tenant would exceed one of its quotas. Not temporary: retrying cannot help until an
    admin raises the quota or the tenant frees some of what it holds.

    ``tenant``, ``quota`` (``policies``, ``allocations`` or ``segments``), ``limit`` and
    ``usage`` let clients act on the refusal without parsing the message, which names them
    all and how to raise the quota (``message`` replaces it: a client keeps the server's).
    """

    def __init__(
        self,
        tenant: str,
        quota: str,
        limit: int,
        usage: int,
        *,
        wanted: int = 1,
        message: str | None = None,
    ) -> None:
        more = "one more" if wanted == 1 else f"{wanted} more"
        super().__init__(
            message
            or f"tenant {tenant!r} has reached its {quota} quota: {usage} in use, limit "
            f"{limit}, {more} requested; nothing was changed. Free some, or have an admin "
            f"raise it (romana quota set --tenant {tenant} --{quota} N)"
        )
        self.tenant = tenant
        self.quota = quota
        self.limit = limit
        self.usage = usage


class Unauthorized(RomanaError):
    """No credential was presented, or it is not valid (forged, expired, unknown)."""


class Forbidden(RomanaError):
    """The credential is valid but does not grant this action."""


class Unavailable(RomanaError):
    """A dependency cannot be reached right now."""

    temporary = True


class Compacted(Unavailable):
    """A watch asked for a revision older than the store keeps; list again and re-watch."""

    temporary = False


class Throttled(RomanaError):
    """Too many attempts, or too many at once: retry after ``retry_after`` seconds."""

    temporary = True


class Unsupported(RomanaError):
    """The request is valid, but this backend cannot express it."""


def is_temporary(exc: BaseException) -> bool:
    """True when retrying the same request later may succeed."""
    return isinstance(exc, RomanaError) and exc.temporary


class Issues:
    """Collects validation problems so that all of them are reported at once.

    Usage::

        issues = Issues()
        if width < 0:
            issues.add("networks[0].tenant_bits", "must be >= 0")
        issues.raise_if_any()
    """

    def __init__(self, context: str = "") -> None:
        self._items: list[Issue] = []
        self._context = context

    def add(self, field: str, rule: str) -> None:
        self._items.append(Issue(field, rule))

    def extend(self, other: Iterable[Issue]) -> None:
        self._items.extend(other)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __iter__(self) -> Iterator[Issue]:
        return iter(self._items)

    def raise_if_any(self) -> None:
        if self._items:
            raise InvalidInput(self._items, context=self._context)
