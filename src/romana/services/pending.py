"""A batch's read view: the store with the writes of the batch's earlier requests applied.

Group commit (:mod:`romana.services.groupcommit`) computes the requests of one batch one after
another; each reads through this view, so it sees what the requests before it wrote, as if
they had committed. Invariants:

* Only reads are served; the batch commits through the store itself.
* A key the batch wrote reads with :data:`PENDING` as its mod revision (it has none until the
  commit), a deleted one as absent; a guard on such a key is settled here
  (:meth:`Pending.holds`), as only this batch writes between.
* What the view read from the store it keeps for the batch: the requests of a batch mostly
  read the same few keys (one tenant's counters, one host's slot), and every read that
  matters is guarded, so a value that changed meanwhile fails the batch's commit as it would
  fail each request's.
"""

from __future__ import annotations

import bisect
import itertools

from romana.core.store import (
    Compare,
    Conditions,
    Event,
    KeyValue,
    Ops,
    Put,
    Range,
    Store,
    TxnResult,
)

PENDING = -1
"""The mod revision :class:`Pending` gives a key the batch wrote: it has none until the commit."""


class Pending:
    """A read view of ``store`` with the writes of a batch applied on top (see module docstring)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._writes: dict[str, bytes | None] = {}
        self._sorted: list[str] = []
        self._got: dict[str, KeyValue | None] = {}
        self._ranges: dict[str, Range] = {}

    def written(self, key: str) -> bool:
        return key in self._writes

    def holds(self, c: Compare) -> bool:
        """Whether a guard on a key this view wrote holds: the key as the view has it."""
        return c.mod_revision == (0 if self._writes[c.key] is None else PENDING)

    def apply(self, ops: Ops) -> None:
        writes, ordered = self._writes, self._sorted
        for op in ops:
            if op.key not in writes:
                bisect.insort(ordered, op.key)  # kept sorted as it grows: ranges ask often
            writes[op.key] = op.value if isinstance(op, Put) else None

    def get(self, key: str) -> KeyValue | None:
        if key in self._writes:
            value = self._writes[key]
            return None if value is None else KeyValue(key, value, PENDING, PENDING, 0)
        if key not in self._got:
            self._got[key] = self._store.get(key)
        return self._got[key]

    def range(self, prefix: str) -> Range:
        found = self._ranges.get(prefix)
        if found is None:
            found = self._ranges[prefix] = self._store.range(prefix)
        start = bisect.bisect_left(self._sorted, prefix)
        mine = []
        for key in itertools.islice(self._sorted, start, None):
            if not key.startswith(prefix):
                break
            mine.append(key)
        if not mine:
            return found
        at = {kv.key: i for i, kv in enumerate(found.items)}
        if all(key in at and self._writes[key] is not None for key in mine):
            # Only rewrites of keys the store has (a tenant's counters): in place, in order.
            merged = list(found.items)
            for key in mine:
                merged[at[key]] = KeyValue(key, self._writes[key] or b"", PENDING, PENDING, 0)
            return Range(tuple(merged), found.revision)
        items = {kv.key: kv for kv in found.items}
        for key in mine:
            value = self._writes[key]
            if value is None:
                items.pop(key, None)
            else:
                items[key] = KeyValue(key, value, PENDING, PENDING, 0)
        return Range(tuple(items[k] for k in sorted(items)), found.revision)

    def txn(self, compares: Conditions, on_success: Ops, on_failure: Ops = ()) -> TxnResult:
        raise TypeError("a batch's pending view is read-only; the batch commits")

    def watch(self, prefix: str, start_revision: int, timeout: float) -> list[Event]:
        return self._store.watch(prefix, start_revision, timeout)

    def revision(self) -> int:
        return self._store.revision()

    def close(self) -> None:
        pass
