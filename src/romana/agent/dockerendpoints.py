"""ADD of docker endpoints: a veth pair left in the host namespace for docker to take.

A docker endpoint (``attachment`` ``docker``, :mod:`romana.core.endpoint`) serves one
libnetwork endpoint. Its key ``docker-<24 hex>:rdk<11 hex>`` is the key under which the Docker
plugin's IPAM allocated its addresses in romanad before libnetwork's Join asked for the
endpoint; ``netns`` is the Join's sandbox key, the path of the container's network namespace.
libnetwork wants an interface of the host namespace: dockerd moves it into the sandbox,
renames it ``eth<N>`` and puts the IPAM address (a ``/32``), the connected route to the
gateway and the default route via it on it. So the agent makes the pair with both ends in the
host namespace: the host end named and wired exactly as a veth endpoint's (alias, MTU,
``rp_filter``, gateway addresses, ``/32`` (``/128``) routes and permanent neighbour entries
naming the other end's MAC, which a move between namespaces keeps), the other end named
``ifname`` and left down, unaddressed, for docker.

ADD, under the key's lock, after the request passed the checks of a JSON one
(:func:`romana.core.endpointwire.checked`) and ``netns`` is none of the host's own
namespaces (the path itself need not exist yet: dockerd makes the sandbox's file when the
container starts, after Join); answer a key already
recorded ready again as it is, creating nothing (409, field ``netns``, for another sandbox);
record the intent (``allocating``); take the key's allocation and wait for the tenant's
policies as a tap's ADD does (:meth:`romana.agent.heldendpoints.HeldEndpoints.claim`: never
allocate); make the pair (any host veth of the key left by a failed attempt is deleted
first; ``ifname`` taken in the host namespace is 409, field ``ifname``), wire its host end
and record the endpoint ``ready`` with both MACs. The firewall filters host veths by their
name prefix from its first ruleset on, so, as for a veth, no reconcile is needed before the
routes exist. A failure undoes the record and the pair, never the allocation. The answer's
``addresses`` carry each family's gateway (:meth:`romana.core.endpoint.Endpoint.gateway`),
which the plugin gives docker.

Once ready, the ADD leaves a task that waits (up to :data:`SANDBOX_WAIT`) for docker to move
the pair's end into the container and address it, then routes each of its addresses' replies
out through it (:meth:`romana.agent.kernel.HostDataplane.route_sources`): a container on
two romana networks answers on both. It ends when the host end is gone.

Once ready the endpoint is kept as :mod:`romana.core.hostplan` describes a docker
endpoint: reconciles repair its host end and never make a pair or look inside the sandbox
(docker renamed the interface); a host end that is gone is not made again.

DEL (:meth:`~romana.agent.heldendpoints.HeldEndpoints.delete`): the record dropped, the host
end deleted (its peer goes with it, in whatever namespace it is), a reconcile asked for; never
a release: the plugin's ReleaseAddress releases. An unrecorded docker key releases nothing.

GC (:meth:`romana.agent.endpoints.Endpoints.gc`) treats a docker endpoint as the veth GC
treats one whose namespace is gone, whatever network and valid list it is given (no CNI
runtime lists docker's endpoints): once older than the grace period, an endpoint whose
sandbox is gone (:meth:`DockerEndpoints.gone`: its host end no longer exists) is deleted
and its allocation released. That is what reclaims the addresses of containers whose dockerd
died without telling the plugin (the plugin's sweep asks every ``docker_gc_interval`` seconds);
one whose sandbox lives is never touched.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import ClassVar

from romana.agent import desired, heldendpoints, ledger
from romana.core import endpointwire, hostplan
from romana.core.endpoint import Endpoint, EndpointRequest, at_field
from romana.core.errors import AlreadyExists, NotFound, RomanaError

log = logging.getLogger(__name__)

SANDBOX_WAIT = 60.0
"""How long an endpoint's source routes wait for docker to start its container."""


@dataclasses.dataclass(frozen=True, slots=True)
class DockerEndpoints(heldendpoints.HeldEndpoints):
    """The docker part of :class:`romana.agent.endpoints.Endpoints` (see the module
    docstring)."""

    unbound: ClassVar[str] = "no allocation {key} on this host: the docker IPAM made none"
    settling: set[asyncio.Task[None]] = dataclasses.field(default_factory=set, compare=False)
    """The source-route tasks still waiting for their containers."""

    async def add(self, request: EndpointRequest) -> Endpoint:
        request = endpointwire.checked(request)
        key = request.key
        async with self.keys.locked(key):
            hv = self.parts.synced_view()
            gateway = desired.gateway_spec(hv)
            known = self.parts.ledger.get(key)
            if known is not None and known.is_docker and known.state == ledger.READY:
                if known.netns != request.netns:
                    raise at_field(
                        AlreadyExists(f"endpoint {key} is in sandbox {known.netns}"), "netns"
                    )
                mac = known.mac or None
                return self.describe(
                    known, desired.endpoint_spec(known, gateway, self.parts.mtu(), mac)
                )
            record = ledger.EndpointRecord.of(request, self.wall())
            try:
                self.parts.ledger.put(record)
                addresses = await self.claim(key, request, hv)
                record = record.ready(addresses)
                spec = desired.endpoint_spec(record, gateway, self.parts.mtu(), None)
                pair = await self.parts.reconciler.call(lambda dp: dp.create_docker_pair(spec))
                record = dataclasses.replace(record, mac=pair.mac, host_mac=pair.host_mac)
                await self.parts.reconciler.call(lambda dp: dp.address_pair(pair, spec))
                self.parts.ledger.put(record)
            except BaseException as exc:
                await self.undo(record)
                if isinstance(exc, AlreadyExists) and not hasattr(exc, "problem_field"):
                    at_field(exc, "ifname")  # the workload end's name is taken on the host
                raise
        log.info("docker endpoint %s added: %s", key, ", ".join(map(str, addresses)))
        task = asyncio.create_task(
            self._route_sources(key, dataclasses.replace(spec, mac=pair.mac))
        )
        self.settling.add(task)
        task.add_done_callback(self.settling.discard)
        return self.describe(record, spec)

    async def _route_sources(self, key: str, spec: hostplan.EndpointSpec) -> None:
        """Once docker moved and addressed the endpoint's end in its container, route its
        addresses' replies out through it (module docstring)."""
        deadline = time.monotonic() + SANDBOX_WAIT
        delay = 0.02
        while time.monotonic() < deadline:
            try:
                if await self.parts.reconciler.call(lambda dp: dp.route_sources(spec)):
                    log.debug("docker endpoint %s: its addresses answer through it", key)
                    return
            except NotFound:
                return  # the container went, and the host end with it
            except (RomanaError, OSError) as exc:
                log.warning("docker endpoint %s: routing its replies failed: %s", key, exc)
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)
        log.warning("docker endpoint %s: no container took it within %.0fs", key, SANDBOX_WAIT)

    async def gone(self, record: ledger.EndpointRecord) -> bool:
        """Whether the sandbox of a docker endpoint is gone: the host end of its veth is (the
        kernel deletes a pair with the namespace of either end). Not its ``netns`` path,
        which dockerd makes only when the container starts and which another mount
        namespace may hide."""
        name = hostplan.host_ifname(record.key)
        return not await self.parts.reconciler.call(lambda dp: dp.device_exists(name))
