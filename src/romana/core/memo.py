"""Memoisation for the pure core: what an agent recompiles on every change, kept between calls.

A recompilation after one policy changed meets mostly values it has seen before — the same
policy objects (the agent reuses what it parsed), the same chains (memoised parts rebuild
nothing) — so the core remembers results across calls, in two ways:

* :class:`HashedOnce`: a frozen value that computes its hash once, for values that key
  ``functools.lru_cache`` memos many times per compilation;
* :class:`ByIdentity`: a memo keyed by the *object* rather than its value, for values that
  are expensive to hash (a chain of many rules) and usually arrive as the very object seen
  last time. It holds each key object, so an ``id`` can never be reused by another object
  while its entry lives, and a hit is exact. Entries no longer used age out (two
  generations), so objects of past compilations are not kept alive for long.

Invariants: a memo never changes a result, only how fast it comes (every memoised function
is pure); every memo is bounded; none needs a lock (the worst interleaving of two threads
computes a value twice or drops an entry early).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class HashedOnce:
    """A frozen value that hashes its fields once.

    Subclasses are ``@dataclass(frozen=True, slots=True)`` with a field
    ``_hash: int = field(init=False, repr=False, compare=False)`` and the line
    ``__hash__ = HashedOnce.__hash__`` in their body (otherwise dataclass writes its own), and
    return their compared fields from :meth:`_fields`. Pickling rebuilds the value through
    its constructor, because string hashes differ between processes.
    """

    __slots__ = ()

    def _fields(self) -> tuple[object, ...]:
        raise NotImplementedError

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash(self._fields()))

    def __hash__(self) -> int:
        return self._hash  # type: ignore[attr-defined, no-any-return]

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (type(self), self._fields())


class ByIdentity(Generic[K, V]):
    """``compute(key)`` remembered by key object, in two generations.

    New entries, and hits found in the old generation, go into the young one; once the young
    generation's total ``weight`` passes ``budget`` it becomes the old one, and the old one
    is dropped. An entry used at least once per generation stays; one no longer used goes
    within two; the memo holds about twice ``budget`` at most."""

    def __init__(
        self, compute: Callable[[K], V], budget: int, weight: Callable[[V], int] | None = None
    ) -> None:
        self._compute = compute
        self._budget = budget
        self._weight = weight
        self._young: dict[int, tuple[K, V]] = {}
        self._old: dict[int, tuple[K, V]] = {}
        self._load = 0

    def __call__(self, key: K) -> V:
        # An entry holds its key, so no other live object can have that id meanwhile.
        entry = self._young.get(id(key))
        if entry is not None and entry[0] is key:
            return entry[1]
        entry = self._old.get(id(key))
        if entry is None or entry[0] is not key:
            entry = (key, self._compute(key))
        self._young[id(key)] = entry
        self._load += 1 if self._weight is None else self._weight(entry[1])
        if self._load > self._budget:
            # Not atomic: another thread may lose an entry here, which costs a recompute.
            self._old, self._young, self._load = self._young, {}, 0
        return entry[1]
