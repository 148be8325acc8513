"""The NetworkDriver half of the Docker plugin: one Docker network is one romana
(tenant, segment) of one romana network, and its endpoints enter through the endpoint port.

* CreateNetwork (on the host running ``docker network create``): the romana options
  (``-o``, else ``--ipam-opt``; tenant required, segment ``default`` unless given) are checked
  against the host view, then the pending pool whose CIDR is the network's IPv4 pool is bound
  in romanad to (tenant, segment, romana network, Docker network id, this host). Nothing is
  allocated. DeleteNetwork does nothing: the binding goes with ReleasePool. A ``--ipv6``
  network's IPv6 pool is bound too, first, to the romana IPv6 network, each binding naming
  the other pool (``pair``); the tenant must allocate in that network, or nothing is bound.
* CreateEndpoint: the Docker allocation of this host holding the endpoint's address is
  recorded under the EndpointID (:class:`~romana.integrations.docker.state.EndpointMap`);
  on a dual-stack network it must hold the endpoint's IPv6 address too. With the endpoint
  option ``romana.external-ip`` (:mod:`~romana.integrations.docker.external`), romanad first
  assigns the allocation an external IP; a refusal fails CreateEndpoint, recording nothing.
* Join: the endpoint port ADD with attachment ``docker``: the agent makes the veth pair with
  both ends in the host namespace, the container end named ``rdk<11 hex>``, and wires the
  host end; the endpoint map records the sandbox. For the sandbox's first romana endpoint,
  docker then moves that end into the sandbox as ``eth<N>`` and routes through the
  gateway, connected (IPv6 through the IPv6 gateway, for an endpoint with an IPv6 address).
  A later endpoint of the same sandbox (``docker network connect``) is answered with its
  link only (:func:`~romana.integrations.docker.protocol.later_join_answer`): its address
  answers through it by the agent's source routes, and the default route stays the first's.
* Leave: the endpoint port DEL, which unwires and never releases (ReleaseAddress does).
  DeleteEndpoint forgets the EndpointID.
* Discovery, external connectivity and operational info: nothing to do (answered empty).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from dataclasses import replace
from typing import Any

from romana.core.dockerpools import DockerPool
from romana.core.endpoint import DOCKER, Address, EndpointRequest
from romana.core.errors import Conflict, InvalidInput, NotFound, RomanaError
from romana.core.identifiers import HostName, SegmentName, TenantName
from romana.integrations.docker import external, protocol
from romana.integrations.docker.shared import Shared
from romana.integrations.docker.state import MappedEndpoint

log = logging.getLogger(__name__)


class NetworkDriver:
    def __init__(self, shared: Shared) -> None:
        self._s = shared

    async def nothing(self, body: Any) -> dict[str, Any]:
        return {}

    async def capabilities(self, body: Any) -> dict[str, Any]:
        return protocol.capabilities()

    async def create_network(self, body: Any) -> dict[str, Any]:
        request = protocol.network_create(body)
        pending = self._s.pools.pending_of(request.pool)
        if pending is None:
            raise NotFound(
                f"no pool {request.pool} of romana's is being created on this host: create the "
                "network with --ipam-driver romana"
            )
        options = request.options.over(pending.options)
        if options.tenant is None:
            raise InvalidInput(
                f"option {protocol.TENANT_OPTION} is required (-o {protocol.TENANT_OPTION}=NAME)"
            )
        segment = protocol.segment_of(options)
        tenants = self._s.deps.view().tenants
        protocol.check_names(tenants, options.tenant, segment)
        pending6 = self._s.pools.pending_of(request.pool6, 6) if request.pool6 else None
        if request.pool6 and pending6 is None:
            raise NotFound(
                f"no IPv6 pool {request.pool6} of romana's is being created on this host"
            )
        if pending6 is not None:
            protocol.check_dual_stack(tenants[options.tenant], pending6.network.name)
        binding = DockerPool(
            pool=pending.pool_id,
            tenant=TenantName(options.tenant),
            segment=SegmentName(segment),
            network=pending.network.name,
            docker_network=request.network_id,
            host=HostName(self._s.deps.host),
            pair=pending6.pool_id if pending6 else "",
        )
        binding6 = (
            replace(
                binding, pool=pending6.pool_id, network=pending6.network.name, pair=binding.pool
            )
            if pending6
            else None
        )
        if binding6 is not None:
            await self._bind(binding6)
        try:
            await self._bind(binding)
        except RomanaError:
            if binding6 is not None:
                with contextlib.suppress(RomanaError):
                    await self._s.deps.romanad.delete_docker_pool(binding6.pool)
            raise
        if binding6 is not None:
            await self._s.pools.settle(binding6.pool, binding6)
        await self._s.pools.settle(binding.pool, binding)
        log.info(
            "docker network %s: pool %s bound to tenant %s segment %s of romana network %s",
            request.network_id,
            binding.pool,
            binding.tenant,
            binding.segment,
            binding.network,
        )
        return {}

    async def _bind(self, binding: DockerPool) -> None:
        await self._s.deps.romanad.bind_docker_pool(binding)

    async def delete_network(self, body: Any) -> dict[str, Any]:
        network_id = protocol.network_id_of(body)
        log.info("docker network %s deleted (its pool's binding goes at ReleasePool)", network_id)
        return {}

    async def create_endpoint(self, body: Any) -> dict[str, Any]:
        request = protocol.endpoint_create(body)
        wanted = external.requested(body)
        held = await self._s.held(request.address, request.address6)
        if held is None:
            raise NotFound(
                f"no docker allocation of this host holds {request.address}: use romana as the "
                "network's IPAM driver (--ipam-driver romana)"
            )
        if request.address6 != held.address6:
            raise Conflict(
                f"AddressIPv6 {request.address6 or '(none)'} and Address {request.address} are "
                f"not one allocation's: {held.key} holds {request.address} with "
                f"{held.address6 or 'no IPv6 address given to docker'}"
            )
        if wanted is not None:
            await external.assign(self._s.deps.romanad, held.key, wanted)
        self._s.endpoints.put(request.endpoint_id, held)
        self._s.allocated.pop(request.address, None)
        if request.address6:
            self._s.allocated.pop(request.address6, None)
        log.info("docker endpoint %s is %s (%s)", request.endpoint_id, held.key, request.address)
        return {"Interface": {}}

    def _mapped(self, endpoint_id: str) -> tuple[MappedEndpoint, str, str]:
        mapped = self._s.endpoints.get(endpoint_id)
        names = protocol.split_key(mapped.key) if mapped is not None else None
        if mapped is None or names is None:
            raise NotFound(f"docker endpoint {endpoint_id} is not known on this host")
        return mapped, names[0], names[1]

    async def join(self, body: Any) -> dict[str, Any]:
        request = protocol.endpoint_call(body, join=True)
        mapped, container_id, ifname = self._mapped(request.endpoint_id)
        later = self._s.endpoints.joined_besides(request.sandbox, request.endpoint_id)
        answer = await self._s.deps.endpoints.add(
            EndpointRequest(
                container_id=container_id,
                ifname=ifname,
                netns=request.sandbox,
                tenant=mapped.tenant,
                segment=mapped.segment,
                attachment=DOCKER,
            )
        )
        gateway = _gateway(answer.addresses, mapped.address)
        if not gateway:
            raise NotFound(f"endpoint {mapped.key} has no IPv4 gateway on this host")
        self._s.endpoints.put(request.endpoint_id, replace(mapped, sandbox=request.sandbox))
        log.info("docker endpoint %s joined %s as %s", request.endpoint_id, request.sandbox, ifname)
        if later:
            return protocol.later_join_answer(ifname)
        return protocol.join_answer(ifname, gateway, answer.gateway(6) if mapped.address6 else "")

    async def leave(self, body: Any) -> dict[str, Any]:
        request = protocol.endpoint_call(body)
        if self._s.endpoints.get(request.endpoint_id) is None:
            log.warning("docker Leave of endpoint %s, which is not known", request.endpoint_id)
            return {}
        mapped, container_id, ifname = self._mapped(request.endpoint_id)
        # The sandbox stays recorded: DeleteEndpoint follows and takes the endpoint out of
        # the map, and sandbox keys are never reused, so it names no sandbox a Join meets.
        await self._s.deps.endpoints.delete(container_id, ifname)
        log.info("docker endpoint %s left (%s)", request.endpoint_id, mapped.key)
        return {}

    async def delete_endpoint(self, body: Any) -> dict[str, Any]:
        request = protocol.endpoint_call(body)
        gone = self._s.endpoints.forget(request.endpoint_id)
        if gone is not None:
            log.info("docker endpoint %s deleted (%s)", request.endpoint_id, gone.key)
        return {}

    async def oper_info(self, body: Any) -> dict[str, Any]:
        return {"Value": {}}


def _gateway(addresses: tuple[Address, ...], address: str) -> str:
    """The gateway of ``address`` among an endpoint's ``addresses``, else the first IPv4
    one: the route docker installs leads to the host end of the veth either way."""
    v4 = [a for a in addresses if a.gateway and ipaddress.ip_address(a.gateway).version == 4]
    own = [a for a in v4 if str(ipaddress.ip_interface(a.address).ip) == address]
    return (own or v4)[0].gateway if v4 else ""
