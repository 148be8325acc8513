"""Optimistic transactions over the store: read, compute, compare-and-swap, retry.

Every service mutation is one store transaction guarded by the mod revisions of what it
read. When another writer wins, the whole read-compute-write is repeated, a bounded number
of times with jittered backoff; then the caller gets :class:`Conflict` (temporary).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from romana.core import errors
from romana.core.store import Compare, Condition, KeyValue, Op, Store, Unchanged

T = TypeVar("T")

MAX_ATTEMPTS = 200

# Built once: ``json.dumps`` with options builds an encoder on every call, and every write of
# every request encodes. Same options, so the same bytes as ever.
_ENCODE = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode
_DECODE = json.JSONDecoder().decode


@dataclass(slots=True)
class Writes:
    """What one attempt wants to commit: the guards it read and the operations."""

    compares: list[Condition] = field(default_factory=list)
    ops: list[Op] = field(default_factory=list)
    attempt: int = 0
    """0 for the first attempt; later attempts follow a lost race and should re-read caches."""

    def guard(self, key: str, kv: KeyValue | None) -> None:
        """Require ``key`` to be unchanged since it was read as ``kv`` (None: absent)."""
        self.compares.append(Compare(key, kv.mod_revision if kv else 0))

    def guard_range(self, prefix: str, revision: int) -> None:
        """Require no key under ``prefix`` to be created or written after ``revision``, the
        revision of the :meth:`Store.range` that read it: what the read found absent stays so."""
        self.compares.append(Unchanged(prefix, revision))


class Retry(Exception):
    """Raised inside an attempt to start over without committing."""


def run(store: Store, attempt: Callable[[Writes], T], *, what: str) -> T:
    """Run ``attempt`` until its writes commit; returns what the committing attempt returned."""
    delay = 0.0005
    for number in range(MAX_ATTEMPTS):
        writes = Writes(attempt=number)
        try:
            result = attempt(writes)
        except Retry:
            pass
        else:
            if not writes.ops:
                return result
            if store.txn(writes.compares, writes.ops).succeeded:
                return result
        time.sleep(random.uniform(0, delay))
        delay = min(delay * 2, 0.05)
    raise errors.Conflict(f"{what}: gave up after {MAX_ATTEMPTS} conflicting attempts")


def dumps(value: Any) -> bytes:
    return _ENCODE(value).encode()


def loads(kv: KeyValue) -> Any:
    # Stored values are UTF-8 (``dumps`` writes ASCII): no encoding to detect.
    return _DECODE(kv.value.decode())


def loads_all(items: Sequence[KeyValue]) -> list[Any]:
    return [_DECODE(kv.value.decode()) for kv in items]
