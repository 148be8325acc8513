"""What the Docker plugin's two drivers share: the agent's parts and the plugin's memory.

The IPAM driver allocates an endpoint's address before the network driver hears of the
endpoint, and CreateEndpoint names the endpoint by that address only; :meth:`Shared.held`
finds the allocation again: first among the keys this agent allocated since it started,
then among this host's allocations in romanad (an agent restarted in between).

On a dual-stack network docker asks for an endpoint's IPv4 address, then for its IPv6
address in the network's other pool, naming nothing else: the IPv6 answer is the IPv6
address of the allocation the IPv4 answer was made from. :attr:`Shared.awaiting` keeps, per
IPv6 pool, the IPv4 answers whose IPv6 address was not asked for yet, oldest first. Docker
holds a lock per network from an endpoint's first RequestAddress to its CreateEndpoint
(libnetwork's ``Network.CreateEndpoint``), so the oldest is the endpoint's own;
CreateEndpoint checks that both its addresses are one allocation's all the same.
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
    awaiting: dict[str, list[Awaiting]] = field(default_factory=dict)
    """IPv6 pool id → the IPv4 answers of its network awaiting their IPv6 request."""

    def drop_awaiting(self, address: str) -> None:
        """The IPv4 answer ``address`` awaits its IPv6 request no more (it was released)."""
        for pool_id, waiting in list(self.awaiting.items()):
            kept = [w for w in waiting if w.mapped.address != address]
            if kept:
                self.awaiting[pool_id] = kept
            else:
                del self.awaiting[pool_id]

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

    async def held(self, address: str, address6: str = "") -> MappedEndpoint | None:
        """The Docker allocation of this host that holds ``address``; None when none does.
        Found in romanad, it holds ``address6`` too when it has that address."""
        known = self.allocated.get(address)
        if known is not None:
            return known
        wanted = ipaddress.ip_address(address)
        for alloc in await self.deps.romanad.list_allocations(self.deps.host):
            found = _held_in(alloc, wanted, address, address6)
            if found is not None:
                return found
        return None


@dataclass(frozen=True, slots=True)
class Awaiting:
    """An IPv4 answer of a dual-stack network: its endpoint's allocation and every address
    of that allocation, among which its IPv6 request finds its own."""

    mapped: MappedEndpoint
    addresses: tuple[str, ...]


def _held_in(
    alloc: dict[str, Any],
    wanted: ipaddress.IPv4Address | ipaddress.IPv6Address,
    address: str,
    address6: str,
) -> MappedEndpoint | None:
    key = str(alloc.get("key", ""))
    if protocol.split_key(key) is None:
        return None  # not Docker's: never handed to docker, never released for it
    holds = {ipaddress.ip_address(str(a)) for a in alloc.get("addresses", ())}
    if wanted not in holds:
        return None
    other = address6 if address6 and ipaddress.ip_address(address6) in holds else ""
    return MappedEndpoint(key, str(alloc["tenant"]), str(alloc["segment"]), address, other)
