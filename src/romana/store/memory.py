"""In-memory store: the reference semantics of the store port, for unit tests and benchmarks.

Thread-safe; one process only; nothing survives the object. History is kept for watches.
"""

from __future__ import annotations

import threading

from romana.core import errors, store


class MemoryStore:
    """A :class:`~romana.core.store.Store` held in a dict."""

    def __init__(self, history: int = 100_000) -> None:
        self._data: dict[str, store.KeyValue] = {}
        self._events: list[store.Event] = []
        self._history = history
        self._revision = 0
        self._trimmed = False
        self._cond = threading.Condition()

    def get(self, key: str) -> store.KeyValue | None:
        with self._cond:
            return self._data.get(key)

    def range(self, prefix: str) -> store.Range:
        with self._cond:
            items = tuple(kv for k, kv in sorted(self._data.items()) if k.startswith(prefix))
            return store.Range(items, self._revision)

    def txn(
        self, compares: store.Conditions, on_success: store.Ops, on_failure: store.Ops = ()
    ) -> store.TxnResult:
        with self._cond:
            ok = all(self._holds(c) for c in compares)
            ops = on_success if ok else on_failure
            if any(isinstance(op, store.Put) or op.key in self._data for op in ops):
                self._revision += 1
                for op in ops:
                    self._apply(op)
                self._cond.notify_all()
            return store.TxnResult(ok, self._revision)

    def _holds(self, c: store.Condition) -> bool:
        if isinstance(c, store.Compare):
            return (self._data[c.key].mod_revision if c.key in self._data else 0) == c.mod_revision
        return all(
            kv.mod_revision <= c.revision for k, kv in self._data.items() if k.startswith(c.prefix)
        )

    def _apply(self, op: store.Op) -> None:
        rev = self._revision
        if isinstance(op, store.Put):
            old = self._data.get(op.key)
            self._data[op.key] = store.KeyValue(
                op.key,
                op.value,
                old.create_revision if old else rev,
                rev,
                old.version + 1 if old else 1,
            )
            self._events.append(store.Event(store.EventType.PUT, op.key, op.value, rev))
        elif isinstance(op, store.Delete) and op.key in self._data:
            del self._data[op.key]
            self._events.append(store.Event(store.EventType.DELETE, op.key, b"", rev))
        if len(self._events) > self._history:
            del self._events[: len(self._events) - self._history]
            self._trimmed = True

    def watch(self, prefix: str, start_revision: int, timeout: float) -> list[store.Event]:
        # Revisions start at 1: anything lower asks for the whole (kept) history.
        start_revision = max(start_revision, 1)
        with self._cond:
            if self._events and start_revision < self._events[0].revision and self._trimmed:
                raise errors.Compacted(f"revision {start_revision} has been compacted")

            def ready() -> list[store.Event]:
                return [
                    e
                    for e in self._events
                    if e.revision >= start_revision and e.key.startswith(prefix)
                ]

            found = ready()
            if not found and timeout > 0:
                self._cond.wait_for(lambda: bool(ready()), timeout)
                found = ready()
            return found

    def revision(self) -> int:
        with self._cond:
            return self._revision

    def close(self) -> None:
        pass
