"""DEL and every release: cutting an endpoint off, removing it, and releasing its addresses.

DEL always succeeds. It owes the release durably (with the addresses), drops the record, sets
the host veth down and answers; then, still under the key's lock, the veth is deleted (gone
namespace or not), the addresses' conntrack flows are forgotten and the allocation released
in romanad, in that order, on the reconciler's reaper thread and the romanad client: the same
key's next ADD or DEL waits for them, and an address is never handed out again before its
veth and its old flows are gone. When romanad cannot be reached the release stays owed and
:meth:`Releases.settle` finishes it later, together with the releases the CNI plugin left in
its pending directory. An ADD of a key with an owed release settles that release first
(:meth:`Releases.settle_owed`), so a stale release can never free a fresh allocation.

Every method that names a key runs under that key's lock (:class:`keylocks.KeyLocks`, shared
with :class:`romana.agent.endpoints.Endpoints`), taken by the caller where it says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from romana.agent import keylocks, ledger
from romana.agent.parts import Parts
from romana.core import hostplan
from romana.core.errors import NotFound, RomanaError
from romana.integrations.cni import pending

log = logging.getLogger(__name__)


def _unreadable(path: str) -> None:
    log.warning("pending release %s is unreadable; left for an operator", path)


class Releases:
    """The release side of the endpoint use cases (see the module docstring)."""

    def __init__(self, parts: Parts, *, keys: keylocks.KeyLocks, pending_dir: str) -> None:
        self._parts = parts
        self._keys = keys
        self._pending_dir = pending_dir
        self._background: set[asyncio.Task[None]] = set()

    async def delete(self, key: str) -> bool:
        """DEL; answers once the endpoint is cut off and its release is owed durably, and
        whether anything was recorded (or, if not, romanad held an allocation of the key).

        Cutting off is setting the host veth down (0.1 ms). Deleting the pair (about 20 ms
        of the kernel's time), forgetting the address's conntrack flows (a walk of the
        kernel's whole table, about 10 ms) and the release in romanad follow, in that order,
        in the background, still under the endpoint's lock.
        """
        await self._keys.hold(key)
        try:
            recorded = await self._unwire(key)
        except BaseException:
            self._keys.let_go(key)
            raise
        if not recorded:
            # Nothing recorded here: release whatever romanad may hold, and answer that.
            try:
                released = await self.release(key)
            finally:
                self._keys.let_go(key)
            return released is True
        task = asyncio.create_task(self._finish_then_let_go(key))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return True

    async def _finish_then_let_go(self, key: str) -> None:
        try:
            await self._finish(key)
        finally:
            self._keys.let_go(key)

    async def drain(self) -> None:
        """Wait for the work DEL left running (at shutdown: the releases are owed durably)."""
        if self._background:
            await asyncio.wait(set(self._background))

    async def _unwire(self, key: str) -> bool:
        """Owe the release, drop the record and cut the endpoint off (:meth:`_finish`
        removes it); False when nothing was recorded, and then any veth of the key is
        removed at once."""
        record = self._parts.ledger.get(key)
        name = hostplan.host_ifname(key)
        if record is None:
            await self._kernel(key, lambda dp: dp.remove_endpoint(name))
            return False
        # Owe the release durably, then drop the record *before* the veth goes: a reconcile
        # running meanwhile must not see a recorded endpoint with no veth and wire it again,
        # and a crash from here on still ends in a release.
        self._parts.ledger.owe_release(key, record.addresses)
        self._parts.ledger.remove(key)
        self._parts.metrics.pending_releases.set(len(self._parts.ledger.releases()))
        await self._kernel(key, lambda dp: dp.disconnect_endpoint(name))
        log.info("endpoint %s deleted", key)
        return True

    async def _finish(self, key: str) -> None:
        """After :meth:`_unwire`: the veth gone, then the owed flows and release settled."""
        name = hostplan.host_ifname(key)
        try:
            await self._parts.reconciler.reap(lambda reaper: reaper.remove_endpoint(name))
        except (RomanaError, OSError) as exc:
            log.warning("DEL %s: %s (the next reconcile removes it)", key, exc)
            self._parts.reconciler.trigger()
        try:
            await self.settle_owed(key)
        except RomanaError as exc:
            log.warning("release of %s owed until romanad answers: %s", key, exc)

    async def _kernel(self, key: str, work: Callable[[Any], object]) -> None:
        """``work`` on the writer thread; a failure is left to the next reconcile."""
        try:
            await self._parts.reconciler.call(work)
        except (RomanaError, OSError) as exc:
            log.warning("DEL %s: %s (the next reconcile retries)", key, exc)
            self._parts.reconciler.trigger()

    async def delete_locked(self, key: str) -> bool:
        """DEL all the way, release included (GC, pending releases of the plugin); the
        caller holds the key's lock."""
        if await self._unwire(key):
            await self._finish(key)
            return True
        return await self.release(key) is True

    async def release(self, key: str) -> bool | None:
        """Release ``key`` in romanad: True, False when it held nothing, None when owed."""
        try:
            await self._parts.romanad.release(key)
            return True
        except NotFound:
            return False
        except RomanaError as exc:
            log.warning("release of %s owed until romanad answers: %s", key, exc)
            self._parts.ledger.owe_release(key, self._parts.ledger.owed_addresses(key))
            self._parts.metrics.pending_releases.set(len(self._parts.ledger.releases()))
            return None

    async def settle_owed(self, key: str) -> bool:
        """Forget the owed addresses' flows, then release ``key``; False when nothing was
        owed (any more); RomanaError: still owed."""
        if key not in self._parts.ledger.releases():
            return False
        addresses = self._parts.ledger.owed_addresses(key)
        if addresses:
            await self._parts.reconciler.reap(lambda reaper: reaper.forget_flows(addresses))
        with contextlib.suppress(NotFound):
            await self._parts.romanad.release(key)
        self._parts.ledger.released(key)
        self._parts.metrics.pending_releases.set(len(self._parts.ledger.releases()))
        return True

    async def settle(self) -> int:
        """Finish owed releases and the CNI plugin's pending releases; how many were done."""
        done = 0
        for key in self._parts.ledger.releases():
            async with self._keys.locked(key):
                try:
                    # False when a DEL finished it meanwhile (it held the key's lock).
                    settled = await self.settle_owed(key)
                except RomanaError as exc:
                    log.debug("owed release of %s still waits: %s", key, exc)
                    continue
                done += settled
        for entry in pending.list_pending(self._pending_dir, _unreadable):
            key = ledger.endpoint_key(entry.container_id, entry.ifname)
            async with self._keys.locked(key):
                if not pending.is_pending(self._pending_dir, entry):
                    continue
                await self.delete_locked(key)
                pending.complete(self._pending_dir, entry)
                log.info("finished the release of %s the CNI plugin left pending", key)
                done += 1
        if done:
            self._parts.reconciler.trigger()
        return done
