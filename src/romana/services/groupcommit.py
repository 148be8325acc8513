"""Group commit: the concurrent store transactions of one process, committed as one.

A request is an optimistic transaction as in :mod:`romana.services.txn` — read, compute, fill
a :class:`~romana.services.txn.Writes` — with one difference: it reads through the store view
it is handed. Requests that arrive while a batch commits queue; the next batch takes them all
(up to ``max_batch``), computes each in turn, and commits them in one store transaction, so
the cost of a commit (a WAL write, a Raft round) is shared by every request of the batch.

Invariants:

* An answer is given only after the transaction holding the request's writes committed, or
  with the request's refusal, when nothing of it was written. A request answered without
  writing (an idempotent replay) is still answered only after its batch committed, since what
  it read may be the batch's own writes.
* The requests of a batch are computed one after another, each reading through a
  :class:`~romana.services.pending.Pending` view: the store with the writes of the batch's
  earlier requests applied. A guard on a key the batch already wrote is checked against that
  view at once and not sent (it cannot fail later: only this batch writes between); every
  other guard is sent, and is evaluated against the state before the batch. So a batch
  commits exactly what running its requests one by one would, or nothing.
* A request that raises is refused alone; its writes never join the batch. A request whose
  guard on the batch's own writes does not hold (it trusted a cache) is computed again from
  fresh reads, as a lost race would make it.
* A lone caller waits for no one: finding no batch in progress, it commits its own request at
  once. There is no timer: a batch is whatever queued while the previous one committed.
* When the batch's transaction fails (another writer changed something read), every request
  of it is computed again with the next attempt number (fresh reads), after the jittered
  backoff :func:`txn.run` uses; a request still losing after :data:`txn.MAX_ATTEMPTS` is
  answered :class:`~romana.core.errors.Conflict`. Each lost batch halves the size of the
  next (each committed one doubles it back, up to ``max_batch``), so that writers in other
  processes contending for the same keys settle at batches small enough to win.
* A batch holds at most :data:`MAX_TXN_ITEMS` guards and as many operations (etcd refuses
  more than 128 of either by default); a request that would go past that waits for the next.
* Operations on one key within a batch are merged into the last one (etcd refuses two on one
  key in a transaction); deleting a key that the batch created and that never existed before
  deletes nothing.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from romana.core import errors
from romana.core.store import Compare, Condition, Op, Store
from romana.services import txn
from romana.services.pending import Pending

T = TypeVar("T")

Request = Callable[[txn.Writes, Store], T]
"""One transaction: fills the writes, reading through the given store view; returns the answer."""

MAX_TXN_ITEMS = 128
"""Guards, and operations, one batch may hold: etcd's default ``--max-txn-ops``."""

RECOMPUTES = 3
"""How often one batch computes a request that asks to start over (txn.Retry, a stale cache)
before leaving it to the next batch."""


_PLACED, _FULL, _RESTARTED = object(), object(), object()
"""What became of a request a batch computed (:meth:`GroupCommit._compute`)."""


@dataclass(eq=False, slots=True)
class _Call(Generic[T]):
    """One caller's request, its progress, and the lock it sleeps on until it is answered or
    asked to lead the next batch (then it wakes unanswered)."""

    request: Request[T]
    what: str
    attempt: int = 0
    answered: bool = False
    result: Any = None
    error: BaseException | None = None
    wake: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, result: Any = None, error: BaseException | None = None) -> None:
        self.result, self.error, self.answered = result, error, True


@dataclass(slots=True)
class _Batch:
    """What the leader gathers: the calls computed and their merged guards and operations."""

    view: Pending
    calls: list[_Call[Any]] = field(default_factory=list)
    compares: list[Condition] = field(default_factory=list)
    ops: list[Op] = field(default_factory=list)

    def merged(self) -> tuple[list[Condition], list[Op]]:
        """The guards without repeats, and the last operation on each key."""
        if len(self.calls) == 1:
            return self.compares, self.ops
        return list(dict.fromkeys(self.compares)), list({op.key: op for op in self.ops}.values())

    def fits(self, compares: list[Condition], ops: list[Op]) -> bool:
        """Whether the batch, with ``compares`` and ``ops`` added, stays within
        :data:`MAX_TXN_ITEMS` of each once merged."""
        if max(len(self.compares) + len(compares), len(self.ops) + len(ops)) <= MAX_TXN_ITEMS:
            return True
        guards = len({*self.compares, *compares})
        keys = len({op.key for op in self.ops} | {op.key for op in ops})
        return max(guards, keys) <= MAX_TXN_ITEMS


class GroupCommit:
    """Commits the requests of concurrent callers on ``store`` in shared transactions.

    ``max_batch`` bounds how many requests one transaction carries.
    """

    def __init__(self, store: Store, max_batch: int = 64) -> None:
        if max_batch < 1:
            raise errors.InvalidInput([errors.Issue("max_batch", "must be >= 1")])
        self._store = store
        self._max_batch = max_batch
        self._mutex = threading.Lock()
        self._queue: list[_Call[Any]] = []
        self._leading = False
        self._delay = 0.0005
        # Halved by each lost batch, doubled back by each committed one: writers contending on
        # the same keys (replicas on one etcd) lose less work with smaller batches.
        self._limit = max_batch
        self.commits = 0
        """Store transactions committed, for tests and metrics."""

    def queued(self) -> int:
        """Requests waiting for a batch (not those of the batch committing now)."""
        with self._mutex:
            return len(self._queue)

    def run(self, request: Request[T], *, what: str) -> T:
        """What ``request`` returned in the batch that committed it; or its refusal."""
        with self._mutex:
            alone = not self._leading
            self._leading = True
        if alone:
            settled = self._alone(request)
            if settled:
                return settled[0]
        call: _Call[T] = _Call(request, what, attempt=1 if alone else 0)
        call.wake.acquire()
        with self._mutex:
            self._queue.append(call)
            follow = not alone and self._leading
            self._leading = True
        if follow:
            call.wake.acquire()  # released when answered, or when asked to lead
        if not call.answered:
            self._lead(call)
        if call.error is not None:
            raise call.error
        result: T = call.result
        return result

    # -- the leader ------------------------------------------------------------------------

    def _alone(self, request: Request[T]) -> list[T]:
        """Commit ``request`` as a batch of its own, the lead taken (nobody was waiting): the
        common case of a lone caller, without the queue. ``[its answer]``; or ``[]`` when it
        must start over (its commit lost a race), and it joins the queue, keeping the lead."""
        keep = False
        try:
            w = txn.Writes()
            result = request(w, self._store)
            if w.ops:
                if not self._store.txn(w.compares, w.ops).succeeded:
                    keep = True
                    time.sleep(random.uniform(0, self._delay))  # as txn.run backs off
                    return []
                self.commits += 1
            return [result]
        except txn.Retry:
            keep = True
            return []
        finally:
            if not keep:
                self._hand_on()

    def _hand_on(self) -> None:
        """Give the lead to the first caller queued, if any; else give it up."""
        with self._mutex:
            successor = self._queue[0] if self._queue else None
            self._leading = successor is not None
        if successor is not None:
            successor.wake.release()

    def _lead(self, mine: _Call[Any]) -> None:
        """Commit batches until ``mine`` is answered; then hand the lead to the next caller."""
        taken: list[_Call[Any]] = []
        try:
            while not mine.answered:
                with self._mutex:
                    taken = self._queue[: self._limit]
                    del self._queue[: self._limit]
                left = self._commit(taken)
                with self._mutex:
                    self._queue[:0] = left
                self._wake(c for c in taken if c.answered and c is not mine)
                taken = []
        except BaseException as exc:
            for c in taken:
                if not c.answered:
                    c.answer(error=exc)
            self._wake(c for c in taken if c is not mine)
            raise
        finally:
            self._hand_on()

    @staticmethod
    def _wake(calls: Any) -> None:
        for c in calls:
            c.wake.release()

    def _commit(self, calls: list[_Call[Any]]) -> list[_Call[Any]]:
        """Compute and commit ``calls``; answer those settled. Returns those left for later."""
        batch = _Batch(Pending(self._store))
        left: list[_Call[Any]] = []
        restarted = False
        for call in calls:
            placed = self._compute(batch, call)
            if placed is not _PLACED:
                left.append(call)
                restarted = restarted or placed is _RESTARTED
        if restarted:  # as txn.run backs off between attempts that start over
            time.sleep(random.uniform(0, self._delay))
        if not batch.calls:
            return left
        if batch.ops:
            compares, ops = batch.merged()
            try:
                result = self._store.txn(compares, ops)
            except Exception as exc:
                for c in batch.calls:
                    c.answer(error=exc)
                return left
            if not result.succeeded:
                return self._lost(batch.calls) + left
            self.commits += 1
        for c in batch.calls:
            c.answered = True
        self._delay = 0.0005
        self._limit = min(self._limit * 2, self._max_batch)
        return left

    def _lost(self, calls: list[_Call[Any]]) -> list[_Call[Any]]:
        """Another writer won: every call starts over with fresh reads, after a backoff."""
        again = []
        for c in calls:
            c.attempt += 1
            if c.attempt >= txn.MAX_ATTEMPTS:
                message = f"{c.what}: gave up after {txn.MAX_ATTEMPTS} conflicting attempts"
                c.answer(error=errors.Conflict(message))
            else:
                again.append(c)
        time.sleep(random.uniform(0, self._delay))
        self._delay = min(self._delay * 2, 0.05)
        self._limit = max(self._limit // 2, 1)
        return again

    def _compute(self, batch: _Batch, call: _Call[Any]) -> object:
        """Add ``call`` to ``batch``, or answer its refusal (:data:`_PLACED`); else it waits for
        the next batch, which it did not fit (:data:`_FULL`) or where it starts over again
        (:data:`_RESTARTED`)."""
        for _ in range(RECOMPUTES):
            if call.attempt >= txn.MAX_ATTEMPTS:
                message = f"{call.what}: gave up after {txn.MAX_ATTEMPTS} attempts"
                call.answer(error=errors.Conflict(message))
                return _PLACED
            w = txn.Writes(attempt=call.attempt)
            try:
                result = call.request(w, batch.view)
            except txn.Retry:
                call.attempt += 1
                continue
            except Exception as exc:
                call.answer(error=exc)
                return _PLACED
            compares = self._unsettled(batch.view, w.compares) if batch.ops else w.compares
            if compares is None:
                call.attempt += 1
                continue
            if batch.calls and not batch.fits(compares, w.ops):
                return _FULL
            batch.compares.extend(compares)
            batch.ops.extend(w.ops)
            batch.view.apply(w.ops)
            batch.calls.append(call)
            call.result = result  # answered once the batch commits
            return _PLACED
        return _RESTARTED

    @staticmethod
    def _unsettled(view: Pending, compares: list[Condition]) -> list[Condition] | None:
        """The guards the store must check; None when one on the batch's own writes fails."""
        kept = []
        for c in compares:
            if isinstance(c, Compare) and view.written(c.key):
                if not view.holds(c):
                    return None
            else:
                kept.append(c)
        return kept
