"""Login throttling: failure counters per user and per source, and a bound on password checks.

A password check is scrypt (about 16 MiB and tens of milliseconds each), so unbounded
parallel logins cost memory and slow every other request. :class:`LoginGate` runs each login
through, in this order:

1. **Backoff.** A user (the name given, whether it exists or not) or a source (client address)
   that failed more than its free allowance is refused with :class:`Throttled` until its
   window ends: after the allowance, each further failure doubles the window (1 s, 2 s, 4 s,
   ... up to ``backoff_max``). A source gets four times the user's allowance (several users
   may share an address). A refusal runs no scrypt and does not count as a failure, so
   hammering does not lengthen the window.
2. **Concurrency.** At most ``concurrency`` password checks run at once (in as many threads
   of the gate's own, off the event loop); a login waits at most ``wait`` seconds for a slot,
   else :class:`Throttled` with a retry after 1 s. Step 1 is checked again once a slot is taken:
   failures recorded meanwhile refuse the waiters without scrypt.
3. **Outcome.** A failed check (:class:`Unauthorized`) counts against the user and the
   source; a successful one resets the user's counter (not the source's).

Invariants:

* The counters live in this process only (each replica throttles on its own; a restart
  forgets them). They are bounded: a key idle for ``backoff_max`` seconds is forgotten, and
  at most :data:`MAX_KEYS` are kept (the least recently failed are dropped first).
* No more than ``concurrency`` password checks run at once through one gate, whatever the
  number of requests.
* Every method is called from the event loop; nothing here blocks it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from romana.core.errors import Throttled, Unauthorized

T = TypeVar("T")
MAX_KEYS = 100_000
"""Most failure counters kept at once (users and sources together)."""
SOURCE_FACTOR = 4
"""A source may fail this many times more often than one user before its backoff starts."""


@dataclass(slots=True)
class _Counter:
    failures: int
    blocked_until: float
    last: float


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """The operator's bounds on logins (romanad's ``login_*`` settings, checked there)."""

    concurrency: int
    """Password checks that may run at once."""
    wait: float
    """Seconds a login waits for a free slot before it is refused."""
    free_failures: int
    """Failures a user may have before its backoff starts (a source: :data:`SOURCE_FACTOR` x)."""
    backoff_max: float
    """Longest backoff window, in seconds; also how long an idle counter is kept."""


class LoginGate:
    """Throttle and bound logins; see the module docstring for the rules."""

    def __init__(self, limits: LoginLimits, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._slots: asyncio.Semaphore | None = None
        # Its own threads, no more than slots: scrypt's memory is reused, not spread over
        # the arenas of many threads, and the server's worker threads stay free.
        self._pool = ThreadPoolExecutor(max_workers=limits.concurrency, thread_name_prefix="login")
        self._counters: dict[tuple[str, str], _Counter] = {}

    async def attempt(self, username: str, source: str, check: Callable[[], T]) -> T:
        """The result of ``check`` (the password check, run in a worker thread) unless the
        user or source is in a backoff window or no slot frees in time (:class:`Throttled`).
        An :class:`Unauthorized` from ``check`` counts as a failure and is re-raised."""
        self._refuse_if_blocked(username, source)
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limits.concurrency)
        try:
            await asyncio.wait_for(self._slots.acquire(), self.limits.wait)
        except TimeoutError:
            raise Throttled(
                f"{self.limits.concurrency} password checks are running and none ended within "
                f"{self.limits.wait:g} s; retry in 1 s",
                retry_after=1,
            ) from None
        try:
            self._refuse_if_blocked(username, source)
            try:
                result = await asyncio.get_running_loop().run_in_executor(self._pool, check)
            except Unauthorized:
                self._failed(username, source)
                raise
            self._counters.pop(("user", username), None)
            return result
        finally:
            self._slots.release()

    def retry_after(self, username: str, source: str) -> float:
        """Seconds until this user and source may try again (0: now)."""
        now = self._clock()
        waits = [
            c.blocked_until - now
            for key in (("user", username), ("source", source))
            if (c := self._counters.get(key)) is not None
        ]
        return max([0.0, *waits])

    def _refuse_if_blocked(self, username: str, source: str) -> None:
        wait = self.retry_after(username, source)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise Throttled(
                f"too many failed logins for user {username!r} or from {source}; "
                f"retry in {seconds} s",
                retry_after=seconds,
            )

    def _failed(self, username: str, source: str) -> None:
        now = self._clock()
        for key, free in (
            (("user", username), self.limits.free_failures),
            (("source", source), self.limits.free_failures * SOURCE_FACTOR),
        ):
            counter = self._counters.pop(key, None)
            if counter is None or now - counter.last > self.limits.backoff_max:
                counter = _Counter(0, 0.0, now)
            counter.failures += 1
            counter.last = now
            over = counter.failures - free
            if over > 0:
                counter.blocked_until = now + min(self.limits.backoff_max, 2.0 ** min(over - 1, 30))
            self._counters[key] = counter  # re-inserted: the dict is ordered by last failure
        self._prune(now)

    def _prune(self, now: float) -> None:
        if len(self._counters) <= MAX_KEYS:
            return
        for key, counter in list(self._counters.items()):
            if now - counter.last <= self.limits.backoff_max:
                break  # ordered by last failure: every later one is recent too
            del self._counters[key]
        while len(self._counters) > MAX_KEYS:
            del self._counters[next(iter(self._counters))]
