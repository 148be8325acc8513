"""External IPs inside Docker containers: the address on the container's own interface.

docker owns a container's interface: it moves the endpoint's end into the sandbox and puts
the allocation's addresses on it, and reconciles never look inside (:mod:`romana.core.hostplan`,
``HANDED_OVER``). An external IP of a Docker endpoint (the plugin's ``romana.external-ip``, or
``romana external-ip assign``) would reach the container's host veth and stop there: nothing
in the container holds the address. The :class:`Keeper` puts each ready docker endpoint's
external addresses (the host view's, of the families the endpoint has a romana address of) on
its interface inside the container, after docker's, each answering through that interface,
and takes any other address of the external pools off it, so an external IP unassigned while
the container runs leaves it (:meth:`romana.agent.kernel.HostDataplane.container_externals`).

Every :data:`PASS` seconds it compares what each endpoint should hold with what it last put
there, and enters a container only when the two differ: once an external IP is assigned,
once it is unassigned, and once per endpoint after the agent starts (what an earlier agent
put there is checked again). A container docker has not taken its end into yet, or that is
gone, is asked about again after a delay that doubles up to :data:`MAX_DELAY`; an endpoint
no longer recorded is forgotten (the kernel drops the addresses with the namespace). A
failure is logged and tried again on that schedule; nothing else waits for the keeper.

Invariant: inside a container only the endpoint's own interface (found by its MAC) is
touched, and on it only addresses inside the external pools and their rules.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from romana.agent import desired, kernel, ledger, view
from romana.core import hostplan
from romana.core.addressing import IPAddress
from romana.core.errors import NotFound, RomanaError

log = logging.getLogger(__name__)

PASS = 0.25
"""Seconds between passes: the wait between an assignment reaching the view and the
address on the container's interface."""
FIRST_DELAY = 0.25
MAX_DELAY = 10.0


@dataclass(slots=True)
class _Pending:
    wanted: tuple[IPAddress, ...]
    due: float
    delay: float


class Keeper:
    """Keeps the external addresses inside this host's Docker containers (module docstring).

    ``kernel`` runs work on the writer thread (:meth:`romana.agent.reconciler.Reconciler.call`);
    ``host_view`` gives the current view (None before the first); ``records`` the ledger's
    endpoint records."""

    def __init__(
        self,
        kernel: Callable[[Callable[[kernel.HostDataplane], object]], Awaitable[object]],
        host_view: Callable[[], view.HostView | None],
        records: Callable[[], Sequence[ledger.EndpointRecord]],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kernel = kernel
        self._host_view = host_view
        self._records = records
        self._clock = clock
        self._held: dict[str, tuple[IPAddress, ...]] = {}
        """Key → the external addresses last put in its container."""
        self._pending: dict[str, _Pending] = {}

    async def run(self, interval: float = PASS) -> None:
        """A pass every ``interval`` seconds, forever."""
        while True:
            await self.once()
            await asyncio.sleep(interval)

    async def once(self) -> None:
        """One pass: each docker endpoint whose container holds other external addresses
        than it should, and whose retry is due, is visited."""
        hv = self._host_view()
        if hv is None:
            return
        ready = {
            r.key: r for r in self._records() if r.is_docker and r.state == ledger.READY and r.mac
        }
        for key in [k for k in (*self._held, *self._pending) if k not in ready]:
            self._held.pop(key, None)
            self._pending.pop(key, None)
        gateway = desired.gateway_spec(hv)
        now = self._clock()
        for key, record in ready.items():
            versions = {a.version for a in record.addresses}
            wanted = tuple(a for a in hv.external.of(key) if a.version in versions)
            if self._held.get(key) == wanted:
                self._pending.pop(key, None)
                continue
            pending = self._pending.get(key)
            if pending is not None and pending.wanted == wanted and now < pending.due:
                continue
            spec = desired.endpoint_spec(record, gateway, hostplan.MAX_MTU, record.mac)
            if await self._put(spec, wanted, hv.external.pools):
                self._held[key] = wanted
                self._pending.pop(key, None)
                if wanted:
                    log.info("docker endpoint %s holds %s", key, ", ".join(map(str, wanted)))
                continue
            delay = FIRST_DELAY if pending is None or pending.wanted != wanted else pending.delay
            self._pending[key] = _Pending(wanted, now + delay, min(delay * 2, MAX_DELAY))

    async def _put(
        self,
        spec: hostplan.EndpointSpec,
        wanted: tuple[IPAddress, ...],
        pools: Sequence[hostplan.IPNetwork],
    ) -> bool:
        def work(dp: kernel.HostDataplane) -> object:
            return dp.container_externals(spec, wanted, pools)

        try:
            return bool(await self._kernel(work))
        except NotFound:
            return False  # the container went, and the host end with it: forgotten soon
        except (RomanaError, OSError) as exc:
            log.warning("docker endpoint %s: its external addresses not set: %s", spec.id, exc)
            return False
