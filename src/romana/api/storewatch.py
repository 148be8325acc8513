"""One store watch per process, shared by every long-polling request.

An agent's ``GET /v1/hosts/{name}/view?after=R&wait=S`` may wait up to a minute. Giving each
waiter a thread (or a thread per slice of its wait) would cap the number of agents at the
size of a thread pool. Instead one task runs ``store.watch`` in a worker thread, one slice
at a time, keeps the recent events in a buffer, and wakes the waiting coroutines, which
only ever await an :class:`asyncio.Event`: a thousand waiting agents cost one thread. The
buffer keeps each event's type, key and revision, what a waiter judges, without its value.

Invariants:

* Events from revision ``floor`` onwards are all in the buffer (trimming raises ``floor``).
  A waiter asking about an older revision cannot be answered from the buffer and returns at
  once, as if something had changed: a spurious wake-up is harmless, a missed change is not.
* Every replica watches the shared store, so a change made through any replica wakes the
  waiters of all of them.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable

from romana.core import errors
from romana.core.store import Event, Store

log = logging.getLogger(__name__)


class Changes:
    """The shared watch over ``prefix`` of ``store``; run :meth:`run` as a task."""

    def __init__(
        self, store: Store, prefix: str, *, slice_seconds: float = 0.5, keep: int = 20_000
    ) -> None:
        self._store = store
        self._prefix = prefix
        self._slice = slice_seconds
        self._events: collections.deque[Event] = collections.deque()
        self._keep = keep
        self._next = 0
        self._floor = 0
        self._wake = asyncio.Event()
        self._started = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._released = False

    def release_waiters(self) -> None:
        """End every wait now and every later one at once (the process is stopping, so agents
        should get their view and reconnect elsewhere). Safe to call from any thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._release)

    def _release(self) -> None:
        self._released = True
        self._started.set()
        self._notify()

    async def run(self) -> None:
        """Watch until cancelled; store failures are logged and retried after a pause."""
        self._loop = asyncio.get_running_loop()
        await self._reset()
        while True:
            try:
                events = await asyncio.to_thread(
                    self._store.watch, self._prefix, self._next, self._slice
                )
            except errors.Compacted:
                log.warning("watch fell behind the store's history; restarting it")
                await self._reset()
                continue
            except errors.RomanaError as exc:
                log.warning("store watch failed, retrying in 1s: %s", exc)
                await asyncio.sleep(1.0)
                continue
            if events:
                self._push(events)

    async def _reset(self) -> None:
        while True:
            try:
                revision = await asyncio.to_thread(self._store.revision)
                break
            except errors.RomanaError as exc:
                log.warning("store unavailable, retrying in 1s: %s", exc)
                await asyncio.sleep(1.0)
        self._events.clear()
        self._next = self._floor = revision + 1
        self._started.set()
        self._notify()

    def _push(self, events: list[Event]) -> None:
        # Values would hold every written record of the last ``keep`` revisions in memory.
        self._events.extend(Event(e.type, e.key, b"", e.revision) for e in events)
        self._next = events[-1].revision + 1
        while len(self._events) > self._keep:
            self._floor = self._events.popleft().revision + 1
        self._notify()

    def _notify(self) -> None:
        wake, self._wake = self._wake, asyncio.Event()
        wake.set()

    async def wait(self, after: int, relevant: Callable[[Event], bool], timeout: float) -> bool:
        """Wait until an event after revision ``after`` passes ``relevant``, or ``timeout``.

        True when woken by a (possibly) relevant change or released, False on timeout.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            async with asyncio.timeout(timeout):
                await self._started.wait()
        except TimeoutError:
            return False
        seen = after
        while True:
            if self._released or seen + 1 < self._floor:
                return True
            for event in reversed(self._events):
                if event.revision <= seen:
                    break
                if relevant(event):
                    return True
            seen = max(seen, self._next - 1)
            wake = self._wake
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                async with asyncio.timeout(remaining):
                    await wake.wait()
            except TimeoutError:
                return False
