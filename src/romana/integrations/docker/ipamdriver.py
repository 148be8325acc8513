"""The IpamDriver half of the Docker plugin: pools are romana networks, addresses romana's.

* RequestPool (on the host running ``docker network create``): the romana network is the
  one whose CIDR is ``--subnet``, or the only IPv4 one; the answer is a fresh pool id and
  that network's CIDR, and the pool is this host's pending pool until CreateNetwork binds it
  (:class:`~romana.integrations.docker.state.Pools`). With ``--ipv6`` docker asks again for
  the IPv6 pool (``V6``): the romana IPv6 network chosen the same way (``--subnet`` of that
  family), pending beside the IPv4 pool; this host must have a prefix in it.
* RequestAddress for the gateway: this host's romana gateway in that network, with the
  network's prefix length. Nothing is allocated: a container routes through the host end of
  its veth, whatever docker records as the network's gateway.
* RequestAddress for an endpoint (any host): the pool's binding names tenant and segment;
  romanad allocates for (this host, tenant, segment) under a fresh Docker key
  (:func:`~romana.integrations.docker.protocol.endpoint_names`), and the answer is the
  address in the pool's network as a /32, so that docker adds no connected route for the
  whole network inside the container. A preferred address (``--ip``, and the same address
  again when that container restarts) must encode this host, the tenant and the segment;
  romanad allocates exactly it, or refuses (another key holds it, a gateway, a reserved or
  blacked-out address) and allocates nothing.
* RequestAddress in a dual-stack network's IPv6 pool: no allocation of its own, but the
  IPv6 address of the allocation made for the same endpoint's IPv4 address just before
  (:class:`~romana.integrations.docker.shared.Shared`, ``awaiting``), as a /128; refused
  when no IPv4 answer awaits it or the allocation has no address in that network (a tenant
  that does not allocate there), and then docker releases the IPv4 address again.
* ReleaseAddress: the allocation the plugin mapped for the address is released: a deleted
  endpoint's (:class:`~romana.integrations.docker.state.EndpointMap`), else one allocated and
  never given to an endpoint; never one found by address alone, which GC may have given to
  another endpoint since. A gateway was never allocated: nothing to release for it. Of a
  dual-stack endpoint's two addresses, the first released releases its allocation and the
  other finds nothing.
* ReleasePool: the binding is deleted in romanad (already gone is fine), or the pending pool
  dropped.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import replace
from typing import Any

from romana.core import addressing
from romana.core.dockerpools import DockerPool
from romana.core.endpoint import endpoint_key
from romana.core.errors import Conflict, InvalidInput, NotFound
from romana.integrations.docker import protocol
from romana.integrations.docker.ports import HostPrefix, HostView, own_prefix
from romana.integrations.docker.shared import Awaiting, Shared
from romana.integrations.docker.state import MappedEndpoint, PendingPool

log = logging.getLogger(__name__)

ALLOCATE_WITHIN = 10.0
"""How long an address request waits for a romanad that does not answer (a restart)."""


def _prefix(hv: HostView, network: str) -> tuple[addressing.Layout, HostPrefix]:
    lay = hv.layouts.get(network)
    prefix = own_prefix(hv, network)
    if lay is None or prefix is None:
        raise NotFound(f"this host has no prefix in romana network {network} (yet)")
    return lay, prefix


class IpamDriver:
    def __init__(self, shared: Shared) -> None:
        self._s = shared

    async def capabilities(self, body: Any) -> dict[str, Any]:
        return {"RequiresMACAddress": False, "RequiresRequestReplay": False}

    async def address_spaces(self, body: Any) -> dict[str, Any]:
        space = protocol.ADDRESS_SPACE
        return {"LocalDefaultAddressSpace": space, "GlobalDefaultAddressSpace": space}

    async def request_pool(self, body: Any) -> dict[str, Any]:
        request = protocol.pool_request(body)
        hv = self._s.deps.view()
        version = 6 if request.v6 else 4
        lay = protocol.choose_network(hv.layouts.values(), request.subnet, version)
        _prefix(hv, lay.name)  # its gateway answers docker's next call
        if request.options.tenant is not None:
            segment = protocol.segment_of(request.options)
            protocol.check_names(hv.tenants, request.options.tenant, segment)
            if request.v6:
                protocol.check_dual_stack(hv.tenants[request.options.tenant], lay.name)
        pool = PendingPool(protocol.pool_id(protocol.new_hex()), lay, request.options)
        if request.v6:
            self._s.pools.reserve6(pool)
        else:
            await self._s.pools.reserve(pool)
        log.info("docker pool %s pending: romana network %s (%s)", pool.pool_id, lay.name, lay.cidr)
        return {"PoolID": pool.pool_id, "Pool": str(lay.cidr), "Data": {}}

    async def request_address(self, body: Any) -> dict[str, Any]:
        request = protocol.address_request(body)
        pending = self._s.pools.pending(request.pool_id)
        if request.gateway:
            network = (
                pending.network.name
                if pending
                else (await self._s.binding(request.pool_id)).network
            )
            return {"Address": self._gateway(network, request.address), "Data": {}}
        if pending is not None:
            raise InvalidInput(
                f"pool {request.pool_id} is not bound to a network yet: romana reserves no "
                "auxiliary addresses (omit --aux-address)"
            )
        binding = await self._s.binding(request.pool_id)
        hv = self._s.deps.view()
        lay, prefix = _prefix(hv, binding.network)
        if lay.version == 6:
            return self._paired(request, binding, lay)
        if request.address:
            protocol.check_names(hv.tenants, binding.tenant, binding.segment)
            tenant = hv.tenants[binding.tenant]
            protocol.check_preferred(lay, request.address, prefix.prefix, tenant, binding.segment)
        container_id, ifname = protocol.endpoint_names(protocol.new_hex())
        key = endpoint_key(container_id, ifname)
        alloc = await self._s.deps.romanad.allocate(
            key,
            self._s.deps.host,
            binding.tenant,
            binding.segment,
            address=request.address or None,
            within=ALLOCATE_WITHIN,
        )
        address = next((a for a in map(str, alloc["addresses"]) if _in(a, lay)), "")
        if not address:
            await self._s.deps.romanad.release(key)
            raise Conflict(f"allocation {key} has no address in romana network {lay.name}")
        mapped = MappedEndpoint(key, binding.tenant, binding.segment, address)
        self._s.allocated[address] = mapped
        if binding.pair:  # a dual-stack network: its IPv6 request follows
            addresses = tuple(map(str, alloc["addresses"]))
            self._s.awaiting.setdefault(binding.pair, []).append(Awaiting(mapped, addresses))
        log.info("docker address %s allocated as %s (pool %s)", address, key, request.pool_id)
        return {"Address": f"{address}/32", "Data": {}}

    def _paired(
        self, request: protocol.AddressRequest, binding: DockerPool, lay: addressing.Layout
    ) -> dict[str, Any]:
        """RequestAddress in the IPv6 pool ``binding``: the IPv6 address of the oldest IPv4
        answer awaiting it (module docstring)."""
        waiting = self._s.awaiting.get(request.pool_id, [])
        if not waiting:
            raise Conflict(
                f"no IPv4 address of docker network {binding.docker_network} awaits its IPv6 "
                "address on this host: docker asks for an endpoint's IPv4 address first"
            )
        first = waiting.pop(0)
        if not waiting:
            del self._s.awaiting[request.pool_id]
        address6 = next((a for a in first.addresses if _in(a, lay)), "")
        if not address6:
            raise Conflict(
                f"allocation {first.mapped.key} has no address in romana network {lay.name}: "
                f"does tenant {binding.tenant} allocate in it?"
            )
        if request.address and request.address != address6:
            raise Conflict(
                f"--ip6 {request.address} cannot be chosen: an endpoint's IPv6 address is the "
                f"one allocated with its IPv4 address {first.mapped.address} ({address6})"
            )
        mapped = replace(first.mapped, address6=address6)
        self._s.allocated[mapped.address] = mapped
        self._s.allocated[address6] = mapped
        log.info("docker address %s paired with %s (%s)", address6, mapped.address, mapped.key)
        return {"Address": f"{address6}/128", "Data": {}}

    def _gateway(self, network: str, wanted: str) -> str:
        lay, prefix = _prefix(self._s.deps.view(), network)
        if wanted and wanted != str(prefix.gateway):
            raise InvalidInput(
                f"the gateway of a romana network is each host's own ({prefix.gateway} here): "
                "omit --gateway"
            )
        return f"{prefix.gateway}/{lay.cidr.prefixlen}"

    async def release_address(self, body: Any) -> dict[str, Any]:
        request = protocol.address_release(body)
        if protocol.is_gateway(self._s.deps.view().layouts.values(), request.address):
            log.debug("docker release of gateway %s: it was never allocated", request.address)
            return {}
        # A deleted endpoint's first: an allocation made since for the same address is the
        # next container's, and this release comes late from the one before.
        mapped = self._s.endpoints.take_deleted(request.address)
        if not mapped:
            fresh = self._s.allocated.pop(request.address, None)
            mapped = [fresh] if fresh is not None else []
            if fresh is not None:
                self._forget(fresh)
        if not mapped:
            log.info("docker release of %s: no endpoint of this plugin's holds it", request.address)
            return {}
        for held in mapped:
            try:
                await self._s.deps.romanad.release(held.key)
            except NotFound:
                log.debug(
                    "docker release of %s: %s was released already", request.address, held.key
                )
            log.info("docker address %s released (%s)", request.address, held.key)
        return {}

    def _forget(self, fresh: MappedEndpoint) -> None:
        """The addresses of ``fresh``, released before it became an endpoint, await nothing."""
        for address in (fresh.address, fresh.address6):
            held = self._s.allocated.get(address)
            if held is not None and held.key == fresh.key:
                del self._s.allocated[address]
        self._s.drop_awaiting(fresh.address)

    async def release_pool(self, body: Any) -> dict[str, Any]:
        pool_id = protocol.pool_id_of(body)
        self._s.pools.forget(pool_id)
        if await self._s.pools.settle(pool_id):
            log.info("docker pool %s released before it was bound", pool_id)
            return {}
        try:
            await self._s.deps.romanad.delete_docker_pool(pool_id)
        except NotFound:
            log.debug("docker pool %s was unbound already", pool_id)
        log.info("docker pool %s released", pool_id)
        return {}


def _in(address: str, lay: addressing.Layout) -> bool:
    ip = ipaddress.ip_address(address)
    return ip.version == lay.version and ip in lay.cidr
