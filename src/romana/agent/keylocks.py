"""One asyncio lock per endpoint key, made on first use and dropped when nobody holds it.

ADD, DEL, CHECK, GC and the settling of owed releases of one endpoint take its key's lock, so
they never interleave on that endpoint while calls on different keys run concurrently. DEL
hands its lock to the background task that finishes the removal: :meth:`KeyLocks.hold` and
:meth:`KeyLocks.let_go` may be called from different tasks, which ``asyncio.Lock`` allows.

Invariant: an entry exists exactly while some task holds or waits for that key, so the map
does not grow with the number of endpoints ever seen.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class KeyLocks:
    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    async def hold(self, key: str) -> None:
        """Take ``key``'s lock; :meth:`let_go` gives it back (possibly from another task)."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            await lock.acquire()
        except BaseException:
            self._drop(key)
            raise

    def let_go(self, key: str) -> None:
        self._locks[key][0].release()
        self._drop(key)

    @contextlib.asynccontextmanager
    async def locked(self, key: str) -> AsyncIterator[None]:
        await self.hold(key)
        try:
            yield
        finally:
            self.let_go(key)

    def __len__(self) -> int:
        return len(self._locks)

    def _drop(self, key: str) -> None:
        lock, users = self._locks[key]
        if users == 1:
            del self._locks[key]
        else:
            self._locks[key] = (lock, users - 1)
