"""The Docker libnetwork remote plugin: one call of the protocol in, one answer out.

:meth:`Plugin.call` takes the path and body docker POSTed and gives the HTTP status and JSON
body to answer; the agent serves it on its plugin socket (:func:`romana.agent.main.run`,
setting ``docker_socket``). Every call docker makes is answered (the list below); an unknown
path is 404 with ``Err``. Every :class:`~romana.core.errors.RomanaError` a call raises
becomes ``{"Err": "romana: <message>"}`` (``Error`` for the IPAM driver's calls:
:func:`~romana.integrations.docker.protocol.failure`) with status 200, which docker shows to
the user as it is; an unexpected exception is logged with its traceback and answered the same way
with a pointer to the log, so a bug fails one call, not the agent.

Each call is logged at debug with its body; each change (a pool, an allocation, a binding,
an endpoint) at info by the driver that makes it.

:meth:`Plugin.sweep` runs beside the server: every ``interval`` seconds it asks the endpoint
port's GC about docker endpoints only (:class:`~romana.core.endpoint.GcRequest` with
attachment ``docker``). GC releases a docker endpoint older than its grace period whose
container is gone, which is what reclaims the addresses of a dockerd that died with its
containers: no call of docker's ever comes for them. A failed sweep is logged and the next
one tries again. Beside it, with ``docker_api`` given, the
:class:`~romana.integrations.docker.engine.Labeller` asks dockerd which container holds each
endpoint and says so in romanad (the allocation's workload): after each Join, and on each
sweep until it knows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from romana.core.endpoint import DOCKER, GcRequest
from romana.core.errors import RomanaError
from romana.integrations.docker import protocol
from romana.integrations.docker.engine import Engine, Labeller
from romana.integrations.docker.ipamdriver import IpamDriver
from romana.integrations.docker.netdriver import NetworkDriver
from romana.integrations.docker.ports import Deps
from romana.integrations.docker.shared import Shared
from romana.integrations.docker.state import PENDING_WAIT, EndpointMap, Pools

log = logging.getLogger(__name__)

Call = Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]
UNEXPECTED = "the agent failed unexpectedly; see its log"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: dict[str, Any]


class Plugin:
    """The NetworkDriver and IpamDriver ``romana`` of one host (module docstring)."""

    def __init__(self, deps: Deps, *, pending_wait: float = PENDING_WAIT) -> None:
        self._deps = deps
        endpoints = EndpointMap(deps.state_dir)
        shared = Shared(deps, Pools(pending_wait), endpoints)
        self._labeller = (
            Labeller(Engine(deps.docker_api), deps.romanad, endpoints.keys)
            if deps.docker_api
            else None
        )
        net = NetworkDriver(shared)
        ipam = IpamDriver(shared)
        self._calls: dict[str, Call] = {
            "/Plugin.Activate": _activate,
            "/NetworkDriver.GetCapabilities": net.capabilities,
            "/NetworkDriver.CreateNetwork": net.create_network,
            "/NetworkDriver.DeleteNetwork": net.delete_network,
            "/NetworkDriver.CreateEndpoint": net.create_endpoint,
            "/NetworkDriver.Join": self._labelled_after(net.join),
            "/NetworkDriver.Leave": net.leave,
            "/NetworkDriver.DeleteEndpoint": net.delete_endpoint,
            "/NetworkDriver.EndpointOperInfo": net.oper_info,
            "/NetworkDriver.DiscoverNew": net.nothing,
            "/NetworkDriver.DiscoverDelete": net.nothing,
            "/NetworkDriver.ProgramExternalConnectivity": net.nothing,
            "/NetworkDriver.RevokeExternalConnectivity": net.nothing,
            "/IpamDriver.GetCapabilities": ipam.capabilities,
            "/IpamDriver.GetDefaultAddressSpaces": ipam.address_spaces,
            "/IpamDriver.RequestPool": ipam.request_pool,
            "/IpamDriver.ReleasePool": ipam.release_pool,
            "/IpamDriver.RequestAddress": ipam.request_address,
            "/IpamDriver.ReleaseAddress": ipam.release_address,
        }

    @property
    def paths(self) -> tuple[str, ...]:
        """Every call the plugin answers."""
        return tuple(self._calls)

    async def call(self, path: str, raw: bytes) -> Answer:
        """The answer to docker's POST of ``raw`` to ``path``."""
        call = self._calls.get(path)
        if call is None:
            log.debug("docker: no such call %s", path)
            return Answer(404, protocol.failure(path, f"no such call {path}"))
        try:
            body = protocol.body_of(raw)
            log.debug("docker %s %s", path, body)
            answer = await call(body)
        except RomanaError as exc:
            log.info("docker %s refused: %s", path, exc)
            return Answer(200, protocol.err(exc, path))
        except Exception:
            log.exception("docker %s failed", path)
            return Answer(200, protocol.failure(path, UNEXPECTED))
        log.debug("docker %s answered %s", path, answer)
        return Answer(200, answer)

    def _labelled_after(self, join: Call) -> Call:
        """``join``, after which the labeller asks which container joined."""
        labeller = self._labeller
        if labeller is None:
            return join

        async def joined(body: Mapping[str, Any]) -> dict[str, Any]:
            answer = await join(body)
            labeller.joined()
            return answer

        return joined

    async def sweep(self, interval: float) -> None:
        """GC of docker endpoints every ``interval`` seconds and the labeller's passes,
        forever (module docstring)."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._collect(interval))
            if self._labeller is not None:
                tasks.create_task(self._labeller.run(interval))

    async def _collect(self, interval: float) -> None:
        request = GcRequest("", frozenset(), attachment=DOCKER)
        while True:
            await asyncio.sleep(interval)
            try:
                answer = await self._deps.endpoints.gc(request)
            except (RomanaError, OSError) as exc:
                log.warning("docker endpoint sweep failed: %s", exc)
                continue
            for container_id, ifname in answer.released:
                log.info("docker endpoint %s:%s swept: its container is gone", container_id, ifname)
            for error in answer.errors:
                log.warning("docker endpoint sweep: %s", error)


async def _activate(body: Mapping[str, Any]) -> dict[str, Any]:
    return protocol.activation()
