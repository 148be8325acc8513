"""The agent's routing report to romanad: how its host routes, and where each route came from.

One report (:class:`romana.wire.rest_routing.RoutingReportIn`, stored by
:mod:`romana.services.routing`) holds:

* ``mode``: ``bgp`` when the host view carries a BGP plan, ``direct`` otherwise;
* ``sessions``: every BGP session of the host's BIRD: its peer's address, AS and name in the
  topology, its state and since when, and why it is down;
* ``routes``: the routes of the host plan last applied (``direct``: planned by romanad,
  installed by the agent), and the routes BIRD learned from its sessions (``bgp``: the
  session and its peer, and whether BIRD holds it as the best route, the one in the kernel);
* ``errors``: what could not be read (BIRD not answering).

:class:`Reporter` reads this state on the writer thread (:meth:`Reconciler.call
<romana.agent.reconciler.Reconciler.call>`: BIRD and the applied plan are used there only)
after every reconcile and at least every :data:`POLL` seconds, since a BGP session comes up
or goes down without a reconcile. It sends the state from the event loop when it differs
from the last one sent, and at least every ``heartbeat`` seconds all the same, so that the
report's age tells romanad's readers the agent is alive. Reading costs nothing in ``direct``
mode and two ``birdc`` calls in ``bgp`` mode; sending waits in a romanad client thread
(:mod:`romana.agent.romanad`), never on the writer thread nor the loop. A failed send is
logged (once per distinct reason) and made again at the next read; it never ends the agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from romana.agent import birdshow
from romana.agent.bird import Bird
from romana.agent.reconciler import Reconciler
from romana.agent.romanad import Romanad
from romana.core import hostplan, names
from romana.core.errors import InvalidInput, RomanaError
from romana.core.render.bird import BirdHost, protocol_name
from romana.core.topology.bgp import BgpPeer

log = logging.getLogger(__name__)

POLL = 2.0
"""Seconds between reads when no reconcile happens: how soon a session change is reported."""
NAME_MAX = 128
TEXT_MAX = 256
"""The longest names and texts a report carries
(:class:`romana.wire.rest_routing.BgpSessionIn`): longer ones are cut, and characters romanad
refuses (:data:`romana.core.names.TEXT_RULE`) replaced, so that one odd peer name never keeps
a whole report out."""


@dataclass(frozen=True, slots=True)
class State:
    """The host's routing as one read found it; equal states are not sent again before the
    heartbeat."""

    mode: str
    sessions: tuple[dict[str, Any], ...] = ()
    routes: tuple[dict[str, Any], ...] = ()
    errors: tuple[str, ...] = ()

    def report(self, reported_at: float, agent: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The body of ``PUT /v1/hosts/{name}/routing``; ``agent``: the agent's own state."""
        return {
            **({"agent": dict(agent)} if agent is not None else {}),
            "mode": self.mode,
            "reported_at": reported_at,
            "sessions": list(self.sessions),
            "routes": list(self.routes),
            "errors": list(self.errors),
        }


def read(bird: Bird | None, plan: BirdHost | None, direct: Sequence[hostplan.RouteSpec]) -> State:
    """The host's routing state: ``direct`` routes, and BIRD's sessions and learned routes
    when ``plan`` (the view's BGP plan) is set. On the writer thread only."""
    routes = [
        {"dst": str(r.dst), "via": str(r.via), "source": "direct"}
        for r in sorted(direct, key=lambda r: (r.dst.version, r.dst, str(r.via)))
    ]
    if plan is None or bird is None:
        return State("direct", routes=tuple(routes))
    try:
        found = bird.sessions()
        table = bird.routes()
    except (RomanaError, OSError) as exc:
        return State(
            "bgp", routes=tuple(routes), errors=(names.printable(f"bird: {exc}", TEXT_MAX),)
        )
    peers = {protocol_name(p, i): p for i, p in enumerate(plan.peers)}
    sessions = {s.name: _session(s, peers.get(s.name)) for s in found if s.peer or s.name in peers}
    learned = [
        _learned(r, sessions[r.protocol]["peer"])
        for r in table
        if r.protocol in sessions and _parses(r)
    ]
    return State("bgp", tuple(sessions.values()), tuple(routes + learned))


def _parses(route: birdshow.Route) -> bool:
    """Whether romanad takes the route (a network, an address or none): a line BIRD prints
    in another shape is left out rather than keep the whole report out."""
    try:
        ipaddress.ip_network(route.dst)
        if route.via:
            ipaddress.ip_address(route.via)
    except ValueError:
        return False
    return True


def _session(session: birdshow.Session, peer: BgpPeer | None) -> dict[str, Any]:
    """A session as reported; what BIRD did not say is the plan's (a BIRD not yet
    reconfigured may run sessions the plan no longer has: those are reported as BIRD says)."""
    return {
        "name": names.printable(session.name, NAME_MAX),
        "peer": session.peer or str(peer.address if peer else ""),
        "peer_as": session.peer_as or (peer.asn if peer else 0),
        "peer_name": names.printable(peer.name, NAME_MAX) if peer else "",
        "state": names.printable(session.state, 32),
        "info": names.printable(session.info, TEXT_MAX),
        "since": names.printable(session.since, 64),
    }


def _learned(route: birdshow.Route, peer: str) -> dict[str, Any]:
    return {
        "dst": route.dst,
        "via": route.via,
        "source": "bgp",
        "protocol": names.printable(route.protocol, NAME_MAX),
        "peer": peer,
        "best": route.best,
    }


class Reporter:
    """Sends the host's routing report to romanad (module docstring) until cancelled."""

    def __init__(
        self,
        host: str,
        reconciler: Reconciler,
        romanad: Romanad,
        *,
        heartbeat: float,
        poll: float = POLL,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._host = host
        self._reconciler = reconciler
        self._romanad = romanad
        self._heartbeat = heartbeat
        self._poll = min(poll, heartbeat)
        self._clock = clock
        self._wall = wall
        self._sent: State | None = None
        self._sent_at = -float("inf")
        self._failure = ""
        self._with_agent = True
        self.reports = 0
        """Reports romanad stored so far."""

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll):
                    await self._reconciler.reconciled()
            await self.once()

    async def once(self) -> None:
        """Read the state and send it when it changed or the heartbeat is due."""
        hv = self._reconciler.host_view
        if hv is None:
            return  # nothing applied yet, and the host may not be registered
        rec = self._reconciler
        state = await rec.call(lambda _dp: read(rec.bird, hv.bgp, rec.applied_routes()))
        if state == self._sent and self._clock() - self._sent_at < self._heartbeat:
            return
        try:
            agent = rec.agent_state() if self._with_agent else None
            try:
                await self._romanad.report_routing(self._host, state.report(self._wall(), agent))
            except InvalidInput as exc:
                if agent is None or "agent" not in str(exc):
                    raise
                # A romanad older than the report's agent field refuses it: report without.
                self._with_agent = False
                log.info("romanad takes no agent state in routing reports; sent without it")
                await self._romanad.report_routing(self._host, state.report(self._wall()))
        except (RomanaError, OSError) as exc:
            if str(exc) != self._failure:
                log.warning("routing report not sent to romanad (sent again soon): %s", exc)
                self._failure = str(exc)
            return
        if self._failure:
            log.info("routing report sent to romanad again")
            self._failure = ""
        if state.sessions != (self._sent.sessions if self._sent else ()):
            up = sum(1 for s in state.sessions if s["state"] == birdshow.ESTABLISHED)
            log.info("bgp sessions: %d of %d established", up, len(state.sessions))
        self._sent, self._sent_at = state, self._clock()
        self.reports += 1
