"""Registration with romanad, then the long poll of this host's view.

The watcher registers the host (``POST /v1/hosts``; an existing registration with the same
name and IP is success), fetches the full host view, and then long-polls it with
``after=<revision>``. Each view that differs from the last one goes to the reconciler as a
whole snapshot; events never carry deltas. After any failure the next request is a fresh
full snapshot (no ``after``), and the first view after a reconnect asks for a *full*
reconcile, so whatever changed while the agent was deaf is caught up (principle 11).

Back-off between failed attempts is jittered and capped; while disconnected the shared
:class:`~romana.agent.parts.Sync` says so, which makes STATUS answer ``not-ready``. A host
that disappeared from the topology (404 on its view) is registered again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from romana.agent import view
from romana.agent.endpoints import Endpoints
from romana.agent.parts import Parts
from romana.core import hostplan, routeplan, topology
from romana.core.errors import InvalidInput, NotFound, RomanaError
from romana.core.identifiers import HostName

log = logging.getLogger(__name__)

BACKOFF_FIRST = 0.2
BACKOFF_MAX = 5.0


@dataclass(frozen=True, slots=True)
class Registration:
    """What the agent registers its host with: its underlay IPv4 address, its labels and its
    IPv6 underlay address ("" for none)."""

    ip: str
    labels: Mapping[str, str]
    ip6: str = ""


class Watcher:
    def __init__(
        self,
        parts: Parts,
        *,
        endpoints: Endpoints,
        registration: Registration,
        wait: float,
        aggregate: bool,
        login: Callable[[], Awaitable[None]] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._parts = parts
        self._endpoints = endpoints
        self._registration = registration
        self._wait = wait
        self._aggregate = aggregate
        self._login = login
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._failures = 0

    async def _back_off(self, problem: str) -> None:
        if self._parts.sync.connected:
            log.warning("lost romanad: %s", problem)
        self._parts.sync.connected = False
        self._parts.sync.detail = f"romanad is unreachable: {problem}"
        self._failures += 1
        ceiling = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** min(self._failures, 10))
        await self._sleep(ceiling * (0.5 + self._rng.random() / 2))

    async def register(self) -> None:
        """Register (log in first if credentials were given); retried until it succeeds.

        A registration conflict (same name, other IP) is not retried: it ends the agent."""
        while True:
            try:
                if self._login is not None:
                    await self._login()
                reg = self._registration
                await self._parts.romanad.register(self._parts.host, reg.ip, reg.labels, reg.ip6)
                return
            except RomanaError as exc:
                if not exc.temporary:
                    raise
                await self._back_off(str(exc))

    async def run(self) -> None:
        """Register, then follow the host view until cancelled."""
        await self.register()
        revision: int | None = None
        while True:
            try:
                hv = await self._parts.romanad.view(
                    self._parts.host, revision, self._wait if revision is not None else None
                )
            except NotFound:
                log.warning(
                    "host %s is not in the topology any more; registering again", self._parts.host
                )
                self._parts.sync.connected = False
                await self.register()
                revision = None
                continue
            except InvalidInput as exc:
                log.error("romanad sent a host view that does not parse: %s", exc)
                revision = None
                await self._back_off(str(exc))
                continue
            except RomanaError as exc:
                revision = None
                await self._back_off(str(exc))
                continue
            reconnected = not self._parts.sync.connected
            self._failures = 0
            if reconnected or hv.revision != revision:
                routes = None
                if not self._aggregate:
                    hv, routes = await self._direct_routes(hv)
                self._parts.reconciler.set_view(hv, routes)
                if reconnected:
                    log.info(
                        "following host view of %s from revision %d", self._parts.host, hv.revision
                    )
                    self._parts.reconciler.trigger(full=True)
            self._parts.sync.connected = True
            self._parts.sync.detail = ""
            revision = hv.revision
            # The reconciler keeps its own view, holding the last one's policy documents
            # (view.share_policies); this one, kept through the long poll below, would
            # keep a second copy of every document alive until the next view came.
            del hv
            await self._endpoints.settle()

    async def _direct_routes(
        self, hv: view.HostView
    ) -> tuple[view.HostView, list[hostplan.RouteSpec] | None]:
        """One route per remote host prefix, from the topology (``--aggregate-routes false``),
        and the view with that plan's unroutable prefixes as its ``skipped_routes``.

        The view unchanged and None (its aggregated routes) when the topology cannot be read
        this time."""
        try:
            # romanad's stored form, which may predate the current name rules.
            topo = topology.from_json_dict(await self._parts.romanad.topology())
            plan = routeplan.route_plan(topo, HostName(self._parts.host), aggregate=False)
        except RomanaError as exc:
            log.warning("cannot compute per-host routes, keeping aggregated ones: %s", exc)
            return hv, None
        skipped = tuple(f"route to {x.dst}: {x.reason}" for x in plan.skipped)
        routes = [hostplan.RouteSpec(r.dst, r.via) for r in plan.routes if r.via != hv.ip]
        # The topology alone holds no moved or external addresses: their routes come from the
        # view.
        routes += [
            hostplan.RouteSpec(r.dst, r.via)
            for r in hv.routes
            if r.moved_from is not None or r.pool is not None
        ]
        return dataclasses.replace(hv, skipped_routes=skipped), routes
