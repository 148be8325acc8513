"""A ring of the last events, numbered in arrival order, that readers follow with a long poll.

The agent keeps its host's drops in one (:class:`romana.agent.drops.Drops`), romanad those
of every host (:class:`romana.services.drops.DropService`). Writers add events from any
thread; readers wait on their own event loop and hold no thread while they wait.

Invariants:

* Each kept event gets the next number, from 1; a number is never reused while the ring
  lives. Once ``capacity`` events are kept, the oldest is forgotten first.
* A writer never waits for a reader: it wakes every waiting reader through the reader's
  loop (``call_soon_threadsafe``), and passes over a reader whose loop has closed.
* A read returns, besides what it found, the last number it looked at, so that a reader
  that filters events goes on from there.

Only the standard library is used, so every layer above the core may import this module.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


def _every(event: object) -> bool:
    return True


class Ring(Generic[T]):
    """The last ``capacity`` events; see the module docstring.

    With ``restarts``, a reader's number beyond the last one given out is taken as one from
    before the process restarted: the reader reads from the start of the ring. Without it,
    the reader waits until the numbers reach it.
    """

    def __init__(self, capacity: int, *, restarts: bool = False) -> None:
        self._kept: collections.deque[tuple[int, T]] = collections.deque(maxlen=capacity)
        self._seq = 0
        self._restarts = restarts
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def add(self, makers: Iterable[Callable[[int], T]]) -> list[T]:
        """Keep the event each of ``makers`` makes of its number, in order, and wake every
        waiting reader; the events kept."""
        made: list[T] = []
        with self._lock:
            for make in makers:
                self._seq += 1
                event = make(self._seq)
                self._kept.append((self._seq, event))
                made.append(event)
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):  # a reader's loop that closed meanwhile
                loop.call_soon_threadsafe(_wake, future)
        return made

    def after(self, after: int, keep: Callable[[T], bool] = _every) -> tuple[list[T], int]:
        """The kept events numbered after ``after`` that ``keep`` takes, and the last number
        given out."""
        with self._lock:
            return self._after(self._start(after), keep)

    async def wait_after(
        self, after: int, wait: float, keep: Callable[[T], bool] = _every
    ) -> tuple[list[T], int]:
        """:meth:`after`; when it finds none, the first that come within ``wait`` seconds."""
        deadline = time.monotonic() + max(wait, 0.0)
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                after = self._start(after)
                found, last = self._after(after, keep)
                left = deadline - time.monotonic()
                if found or left <= 0:
                    return found, last
                after = max(after, last)  # every event up to ``last`` was looked at
                future: asyncio.Future[None] = loop.create_future()
                self._waiters.append((loop, future))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(future, left)

    def _start(self, after: int) -> int:
        return 0 if self._restarts and after > self._seq else after

    def _after(self, after: int, keep: Callable[[T], bool]) -> tuple[list[T], int]:
        return [e for seq, e in self._kept if seq > after and keep(e)], self._seq


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
