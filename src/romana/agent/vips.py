"""Holding VIPs: ask romanad for each VIP's lease, and hold it in the kernel while granted.

A VIP (:mod:`romana.core.vips`) is held by one host at a time. Every agent with a ready
endpoint of a VIP contends for it: while another host holds it, it asks romanad again just
after that host's lease would run out (romanad says when), which is at once when the holder
stopped renewing; the holder renews every ``ttl / 4``. While granted, the agent keeps the
VIP's address on its underlay interface with a *valid lifetime* that ends before the lease
could (:func:`romana.core.vips.kernel_ttl`, whole seconds, refreshed at each renewal): the
kernel removes the address by itself when renewals stop (the agent killed, romanad out of
reach) before romanad may grant the lease to another host. The firewall's DNAT of the VIP
(:mod:`romana.core.egress`) applies only while the address is local, so the address alone
decides who forwards. On taking a VIP the agent announces it (gratuitous ARP, unsolicited
neighbour advertisement) so the underlay's routers and hosts send to it at once.

A lease refused, lost, or no longer wanted (no ready endpoint left here, the VIP deleted)
removes the address at once; a stopping agent releases its leases so another host takes
over without waiting for them to expire.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from romana.agent import ledger, view
from romana.core import addressing, vips
from romana.core.errors import RomanaError

log = logging.getLogger(__name__)

CONTEND = 8
"""Without a lease to wait out (none held, romanad away), a contender asks ``ttl / CONTEND``
seconds apart; a holder renews every ``ttl / RENEW_FRACTION``."""
EXPIRY_MARGIN = 0.02
"""Seconds after the holder's lease runs out at which a contender asks again."""


class Kernel(Protocol):
    """What holding a VIP needs of the host's dataplane (run on the writer thread)."""

    def hold_vip(self, address: addressing.IPAddress, ifname: str, lifetime: int) -> bool: ...

    def drop_vip(self, address: addressing.IPAddress, ifname: str) -> None: ...

    def announce(self, address: addressing.IPAddress, ifname: str) -> None: ...


class Leases(Protocol):
    """romanad's lease call: the answer's ``held`` and ``ttl``."""

    async def lease_vip(
        self, name: str, host: str, release: bool = False
    ) -> Mapping[str, object]: ...


OnWriter = Callable[[Callable[[Kernel], object]], Awaitable[object]]
"""Runs a function of the dataplane on the writer thread (``Reconciler.call``)."""


@dataclass(frozen=True, slots=True)
class Answer:
    """romanad's answer to a lease request, and when it was asked and answered (the holder's
    clock); ``expires_in``: seconds until the lease runs out (of whoever holds it)."""

    held: bool
    ttl: float
    asked: float
    answered: float
    expires_in: float


@dataclass(slots=True)
class Held:
    address: addressing.IPAddress
    until: float
    """The holder's clock (monotonic) when its kernel state ends by itself."""


class Holder:
    """The agent's VIP leases; :meth:`step` once per tick, :meth:`run` forever."""

    def __init__(
        self,
        *,
        host: str,
        leases: Leases,
        kernel: OnWriter,
        underlay: Callable[[], str],
        host_view: Callable[[], view.HostView | None],
        records: Callable[[], list[ledger.EndpointRecord]],
        ttl: float = vips.DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._host = host
        self._leases = leases
        self._kernel = kernel
        self._underlay = underlay
        self._view = host_view
        self._records = records
        self._ttl = ttl
        self._clock = clock
        self.held: dict[str, Held] = {}
        self._next: dict[str, float] = {}
        """When to ask romanad next about each wanted VIP (the holder's clock)."""

    def wanted(self) -> dict[str, addressing.IPAddress]:
        """The VIPs this host may hold now: those with a ready endpoint here."""
        hv = self._view()
        if hv is None:
            return {}
        ready = {r.key for r in self._records() if r.state == ledger.READY}
        return {v.name: v.address for v in hv.vips if ready & set(v.local_keys)}

    async def _ask(self, name: str, release: bool = False) -> Answer:
        asked = self._clock()
        answer = await asyncio.wait_for(
            self._leases.lease_vip(name, self._host, release), timeout=self._ttl
        )
        ttl = answer.get("ttl", self._ttl)
        granted = float(ttl) if isinstance(ttl, int | float) else 0.0
        if granted > 0:
            self._ttl = granted  # romanad's setting paces the renewals
        left = answer.get("expires_in", 0)
        expires_in = float(left) if isinstance(left, int | float) else 0.0
        return Answer(bool(answer.get("held")), granted, asked, self._clock(), expires_in)

    async def _drop(self, name: str, reason: str) -> None:
        gone = self.held.pop(name, None)
        ifname = self._underlay()
        if gone is None or not ifname:
            return
        log.info("VIP %s (%s): no longer held here: %s", name, gone.address, reason)
        await self._kernel(lambda k: k.drop_vip(gone.address, ifname))

    async def _one(self, name: str, address: addressing.IPAddress) -> None:
        ifname = self._underlay()
        try:
            got = await self._ask(name)
        except (RomanaError, TimeoutError) as exc:
            # Keep what the kernel holds: it ends by itself before the lease may.
            log.debug("VIP %s: lease request failed: %s", name, exc)
            self._next[name] = self._clock() + self._ttl / CONTEND
            return
        if not got.held:
            # Ask again just after the holder's lease runs out, unless renewed meanwhile
            # (then romanad says so, and when it runs out next).
            wait = got.expires_in + EXPIRY_MARGIN if got.expires_in > 0 else self._ttl / CONTEND
            self._next[name] = got.answered + min(wait, self._ttl)
            if name in self.held:
                await self._drop(name, "romanad granted the lease to another host")
            return
        self._next[name] = got.answered + self._ttl / vips.RENEW_FRACTION
        lifetime = math.floor(vips.kernel_ttl(got.ttl, got.asked, got.answered))
        if lifetime < 1 or not ifname:
            await self._drop(name, "the grant came too late to hold it for a second")
            return
        fresh = name not in self.held
        await self._kernel(lambda k: k.hold_vip(address, ifname, lifetime))
        self.held[name] = Held(address, got.answered + lifetime)
        if fresh:
            log.info("VIP %s (%s): held here", name, address)
            await self._kernel(lambda k: k.announce(address, ifname))

    async def step(self) -> None:
        """One round: drop what is no longer wanted or timed out, ask for the rest."""
        wanted = self.wanted()
        now = self._clock()
        for name in list(self.held):
            if name not in wanted:
                await self._release(name)
            elif self.held[name].until <= now:
                self.held.pop(name)  # the kernel removed the address by itself
        for name in list(self._next):
            if name not in wanted:
                del self._next[name]
        due = [(n, a) for n, a in sorted(wanted.items()) if self._next.get(n, 0.0) <= now]
        await asyncio.gather(*(self._one(n, a) for n, a in due))

    async def _release(self, name: str) -> None:
        try:
            await self._ask(name, release=True)
        except (RomanaError, TimeoutError) as exc:
            log.debug("VIP %s: release failed, its lease expires instead: %s", name, exc)
        await self._drop(name, "no ready endpoint of it here any more")

    async def run(self) -> None:
        """Forever: a step, then a pause (shorter while contending than while holding)."""
        try:
            while True:
                try:
                    await self.step()
                except RomanaError as exc:
                    log.warning("VIP leases: %s", exc)
                now = self._clock()
                soonest = min(self._next.values(), default=now + self._ttl / CONTEND)
                # New VIPs and endpoints are noticed within a contender's interval.
                await asyncio.sleep(min(max(soonest - now, 0.01), self._ttl / CONTEND))
        finally:
            for name in list(self.held):
                await asyncio.shield(self._release(name))
