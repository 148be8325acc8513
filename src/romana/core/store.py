"""The store port: a transactional key-value store with revisions.

Two adapters implement it — ``romana.store.sqlite`` (embedded default, one file, WAL) and
``romana.store.etcd`` (etcd v3 over its JSON gateway) — and one contract suite
(``tests/contract/test_store.py``) runs against both.

Semantics follow etcd v3, which is the stricter of the two:

* The store has one revision counter. Every successful write transaction that changes at
  least one key increases it by exactly one; all keys written in that transaction get that
  revision as their ``mod_revision``.
* ``create_revision`` is the revision that created the key (since its last delete);
  ``version`` counts writes since creation.
* :meth:`Store.txn` evaluates every :class:`Compare` atomically against the current state;
  when all hold it applies ``on_success``, otherwise ``on_failure``. Nothing is ever
  half-applied. ``Compare(key, 0)`` means "key does not exist". :class:`Unchanged` guards a
  whole prefix: nothing under it was created or modified since a :meth:`Store.range` read.
* :meth:`Store.watch` returns the events with revision >= ``start_revision`` under a prefix,
  in revision order, waiting up to ``timeout`` seconds for the first one. A revision the store
  no longer keeps raises :class:`~romana.core.errors.Compacted`.
* Keys and prefixes are text; values are bytes.

Raises (every method): :class:`~romana.core.errors.Unavailable` when the backend cannot be
reached; the caller may retry.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol


class KeyValue(NamedTuple):
    """One key as the store holds it. A named tuple rather than a dataclass: a range builds
    one per key (an address slot's range, read on every allocation, holds hundreds), and a
    tuple is built at a third of a frozen dataclass's cost."""

    key: str
    value: bytes
    create_revision: int
    mod_revision: int
    version: int


@dataclass(frozen=True, slots=True)
class Compare:
    """Holds when ``key``'s mod_revision equals ``mod_revision`` (0: the key is absent)."""

    key: str
    mod_revision: int


@dataclass(frozen=True, slots=True)
class Unchanged:
    """Holds when no key starting with ``prefix`` has a mod_revision above ``revision``.

    Pass the revision of a :meth:`Store.range` of the same prefix: the transaction then
    commits only if no key that read could have returned was created or written since, which
    is how a writer proves that a range it checked is still as it saw it. Deleting a key is
    not a change here (a deleted key has no revision left to compare); creating it again is.
    """

    prefix: str
    revision: int


Condition = Compare | Unchanged
Conditions = Sequence[Condition]


@dataclass(frozen=True, slots=True)
class Put:
    key: str
    value: bytes


@dataclass(frozen=True, slots=True)
class Delete:
    key: str


Op = Put | Delete
Ops = Sequence[Op]


@dataclass(frozen=True, slots=True)
class TxnResult:
    succeeded: bool
    revision: int
    """The store revision after the transaction (unchanged when nothing was written)."""


class EventType(enum.StrEnum):
    PUT = "PUT"
    DELETE = "DELETE"


@dataclass(frozen=True, slots=True)
class Event:
    type: EventType
    key: str
    value: bytes
    """The new value for PUT, empty for DELETE."""
    revision: int


@dataclass(frozen=True, slots=True)
class Range:
    items: tuple[KeyValue, ...]
    revision: int
    """The store revision the read was served at."""


class Store(Protocol):
    """A transactional key-value store with revisions and watches (see module docstring)."""

    def get(self, key: str) -> KeyValue | None:
        """The current value of ``key``, or None."""
        ...

    def range(self, prefix: str) -> Range:
        """Every key starting with ``prefix``, sorted by key, at one revision."""
        ...

    def txn(self, compares: Conditions, on_success: Ops, on_failure: Ops = ()) -> TxnResult:
        """Apply ``on_success`` if every condition holds, else ``on_failure``; atomically."""
        ...

    def watch(self, prefix: str, start_revision: int, timeout: float) -> list[Event]:
        """Events under ``prefix`` at revisions >= ``start_revision``; waits up to ``timeout``.

        Returns an empty list when nothing happened within ``timeout``.
        Raises Compacted when ``start_revision`` is older than the kept history.
        """
        ...

    def revision(self) -> int:
        """The current store revision."""
        ...

    def close(self) -> None:
        """Release connections; the object is unusable afterwards."""
        ...


class Forwarding:
    """A store that hands every call to ``inner``: the base of a wrapper that watches or holds
    up some of them (a benchmark's counting store, a test's gated one) and overrides those."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner

    def get(self, key: str) -> KeyValue | None:
        return self.inner.get(key)

    def range(self, prefix: str) -> Range:
        return self.inner.range(prefix)

    def txn(self, compares: Conditions, on_success: Ops, on_failure: Ops = ()) -> TxnResult:
        return self.inner.txn(compares, on_success, on_failure)

    def watch(self, prefix: str, start_revision: int, timeout: float) -> list[Event]:
        return self.inner.watch(prefix, start_revision, timeout)

    def revision(self) -> int:
        return self.inner.revision()

    def close(self) -> None:
        self.inner.close()
