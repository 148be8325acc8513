"""What the Docker plugin's two drivers share: the agent's parts and the plugin's memory.

The IPAM driver allocates an endpoint's address before the network driver hears of the
endpoint, and CreateEndpoint names the endpoint by that address only; :meth:`Shared.held`
finds the allocation again: first among the keys this agent allocated since it started,
then among this host's allocations in romanad (an agent restarted in between).
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field
from typing import Any

from romana.core.dockerpools import DockerPool
from romana.core.errors import NotFound
from romana.integrations.docker import protocol
from romana.integrations.docker.ports import Deps
from romana.integrations.docker.state import EndpointMap, MappedEndpoint, Pools

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Shared:
    deps: Deps
    pools: Pools
    endpoints: EndpointMap
    allocated: dict[str, MappedEndpoint] = field(default_factory=dict)
    """Address → its allocation, for the addresses this agent allocated since it started."""

    async def binding(self, pool_id: str) -> DockerPool:
        """The binding of ``pool_id``: remembered, or read from romanad (any host may meet a
        pool first at RequestAddress); NotFound names a pool not bound."""
        known = self.pools.bound(pool_id)
        if known is not None:
            return known
        try:
            raw = await self.deps.romanad.get_docker_pool(pool_id)
        except NotFound as exc:
            raise NotFound(
                f"pool {pool_id} is bound to no docker network: was the network created with "
                "-d romana --ipam-driver romana?"
            ) from exc
        found = DockerPool.from_dict(raw)
        self.pools.remember(found)
        return found

    async def held(self, address: str) -> MappedEndpoint | None:
        """The Docker allocation of this host that holds ``address``; None when none does."""
        known = self.allocated.get(address)
        if known is not None:
            return known
        wanted = ipaddress.ip_address(address)
        for alloc in await self.deps.romanad.list_allocations(self.deps.host):
            found = _held_in(alloc, wanted, address)
            if found is not None:
                return found
        return None


def _held_in(
    alloc: dict[str, Any], wanted: ipaddress.IPv4Address | ipaddress.IPv6Address, address: str
) -> MappedEndpoint | None:
    key = str(alloc.get("key", ""))
    if protocol.split_key(key) is None:
        return None  # not Docker's: never handed to docker, never released for it
    if wanted not in {ipaddress.ip_address(str(a)) for a in alloc.get("addresses", ())}:
        return None
    return MappedEndpoint(key, str(alloc["tenant"]), str(alloc["segment"]), address)
