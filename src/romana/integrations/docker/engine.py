"""Which container holds each Docker endpoint, asked of dockerd, and said to romanad.

The libnetwork protocol never names the container an endpoint is for: the IPAM driver
allocates under a key of its own choosing (``docker-<24 hex>:rdk<11 hex>``) before docker
says what the address is for, and Join names only the EndpointID and the sandbox. dockerd's
Engine API does know: each container of ``GET /containers/json`` lists, per network, the
EndpointID it holds (``NetworkSettings.Networks[*].EndpointID``). The :class:`Labeller` asks
it for the endpoints of the plugin's map whose allocation has no workload yet, and sets the
allocation's workload to :func:`workload_of` the container (``docker:<64 hex id>``), so
``romana ipam list`` names the container of every Docker allocation.

:func:`holders` and :func:`labels` are the matching, pure; :class:`Engine` is the one call
over dockerd's Unix socket. The labeller asks after each Join (a few times, quickly: the
container becomes visible with its endpoint only once docker has started it) and on every
sweep, so an answer missed for any reason (dockerd unreachable, romanad unavailable) is asked
again later. It fails nothing: a failure is logged (a warning when dockerd stops answering,
at debug while it still does not) and the next pass tries again.

Invariant: the labeller remembers which allocations it labelled since the agent started and
asks again about no other; after a restart it labels each mapped endpoint once more, which
romanad takes as a no-op (the same workload again writes nothing).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

import httpx

from romana.core.errors import RomanaError, Unavailable
from romana.integrations.docker.ports import Romanad

log = logging.getLogger(__name__)

WORKLOAD_PREFIX = "docker:"
TIMEOUT = 5.0
"""Seconds one call of dockerd's API may take."""
QUICK = 0.25
"""Seconds between passes while a Join's container is awaited."""
JOIN_WINDOW = 15.0
"""Seconds after a Join during which passes are :data:`QUICK`."""


def workload_of(container_id: str) -> str:
    """What an allocation held by Docker container ``container_id`` says holds it."""
    return f"{WORKLOAD_PREFIX}{container_id}"


def holders(containers: object) -> dict[str, str]:
    """EndpointID → the id of the container holding it, from the answer of dockerd's
    ``GET /containers/json``; anything not of that shape (a container without an id, a
    network without an endpoint, as of a stopped container) names nothing."""
    found: dict[str, str] = {}
    for container in containers if isinstance(containers, list) else ():
        if not isinstance(container, dict):
            continue
        container_id = container.get("Id")
        settings = container.get("NetworkSettings")
        networks = settings.get("Networks") if isinstance(settings, dict) else None
        if not isinstance(container_id, str) or not container_id or not isinstance(networks, dict):
            continue
        for network in networks.values():
            endpoint_id = network.get("EndpointID") if isinstance(network, dict) else None
            if isinstance(endpoint_id, str) and endpoint_id:
                found[endpoint_id] = container_id
    return found


def labels(pending: Mapping[str, str], held_by: Mapping[str, str]) -> dict[str, str]:
    """Allocation key → its workload, for each pending endpoint (EndpointID → allocation
    key) that a container holds (``held_by``, :func:`holders`)."""
    return {key: workload_of(held_by[eid]) for eid, key in pending.items() if eid in held_by}


class Engine:
    """dockerd's Engine API on the Unix socket ``socket``."""

    def __init__(self, socket: str, timeout: float = TIMEOUT) -> None:
        self._socket = socket
        self._timeout = timeout

    @property
    def socket(self) -> str:
        return self._socket

    async def containers(self) -> object:
        """The decoded answer of ``GET /containers/json?all=1`` (every container, also one
        created and not yet running); Unavailable naming the socket when there is none."""
        transport = httpx.AsyncHTTPTransport(uds=self._socket)
        try:
            async with httpx.AsyncClient(
                transport=transport, base_url="http://docker", timeout=self._timeout
            ) as client:
                answer = await client.get("/containers/json", params={"all": "1"})
                answer.raise_for_status()
                return answer.json()
        except (httpx.HTTPError, OSError, ValueError) as exc:
            raise Unavailable(f"docker API {self._socket} does not answer: {exc}") from exc


class Labeller:
    """Labels the allocations of the plugin's endpoints with their containers (module
    docstring). ``mapped`` gives the plugin's endpoint map now: EndpointID → allocation key."""

    def __init__(
        self,
        engine: Engine,
        romanad: Romanad,
        mapped: Callable[[], Mapping[str, str]],
        *,
        quick: float = QUICK,
        window: float = JOIN_WINDOW,
    ) -> None:
        self._engine = engine
        self._romanad = romanad
        self._mapped = mapped
        self._quick = quick
        self._window = window
        self._labelled: dict[str, str] = {}
        self._wake = asyncio.Event()
        self._eager_until = 0.0
        self._failing = False

    def joined(self) -> None:
        """An endpoint joined a container: ask soon, and quickly again until it is found."""
        self._eager_until = time.monotonic() + self._window
        self._wake.set()

    async def label(self) -> int:
        """One pass; how many mapped endpoints are still without a workload."""
        mapped = dict(self._mapped())
        keys = set(mapped.values())
        self._labelled = {k: w for k, w in self._labelled.items() if k in keys}
        pending = {eid: key for eid, key in mapped.items() if key not in self._labelled}
        if not pending:
            return 0
        try:
            held_by = holders(await self._engine.containers())
        except Unavailable as exc:
            say = log.debug if self._failing else log.warning
            say("%s (asked again later)", exc)
            self._failing = True
            return len(pending)
        if self._failing:
            log.info("docker API %s answers again", self._engine.socket)
            self._failing = False
        for key, workload in labels(pending, held_by).items():
            try:
                await self._romanad.set_workload(key, workload)
            except RomanaError as exc:
                log.warning("allocation %s: workload not set (tried again later): %s", key, exc)
                continue
            self._labelled[key] = workload
            log.info("allocation %s is held by %s", key, workload)
        return len(pending) - sum(1 for key in pending.values() if key in self._labelled)

    async def run(self, interval: float) -> None:
        """A pass every ``interval`` seconds, and quickly after a Join, forever."""
        while True:
            eager = time.monotonic() < self._eager_until
            try:
                async with asyncio.timeout(self._quick if eager else interval):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            if not await self.label():
                self._eager_until = 0.0
