"""What the Docker plugin needs from the agent that serves it, as protocols.

The plugin sits below the agent (import contracts: integrations do not import the agent), so
it names the agent's parts it uses by their shape: the agent's romanad client
(:class:`romana.agent.romanad.Romanad`) is a :class:`Romanad`, its host view
(:class:`romana.agent.view.HostView`) a :class:`HostView`, and its endpoint service an
:class:`~romana.core.endpoint.EndpointPort`. Unit tests hand it fakes of the same shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from romana.core import addressing, tenancy
from romana.core.dockerpools import DockerPool
from romana.core.endpoint import EndpointPort


class Romanad(Protocol):
    """The romanad calls of the plugin; errors are :mod:`romana.core.errors` classes."""

    async def allocate(
        self,
        key: str,
        host: str,
        tenant: str,
        segment: str,
        *,
        address: str | None = None,
        within: float = 0.0,
    ) -> dict[str, Any]:
        """POST /v1/allocations; ``address`` is the one wanted in its network (``--ip``)."""
        ...

    async def list_allocations(self, host: str) -> list[dict[str, Any]]: ...

    async def release(self, key: str) -> dict[str, Any]: ...

    async def set_workload(self, key: str, workload: str) -> dict[str, Any]:
        """PUT /v1/allocations/{key}/workload: what holds the allocation (idempotent)."""
        ...

    async def bind_docker_pool(self, binding: DockerPool) -> dict[str, Any]:
        """PUT /v1/docker-pools/{pool}: romanad checks the tenant, segment and network;
        ``pair`` is the other pool of a dual-stack network."""
        ...

    async def get_docker_pool(self, pool: str) -> dict[str, Any]:
        """The binding of ``pool`` (its tenant, segment, network); NotFound when unbound."""
        ...

    async def delete_docker_pool(self, pool: str) -> dict[str, Any]: ...

    async def assign_external_ip(
        self, pool: str, endpoint: str, address: str | None = None
    ) -> dict[str, Any]:
        """POST /v1/external-ips: an external IP of ``pool`` (``address`` when given) for the
        allocation ``endpoint``; the same again for what it holds already."""
        ...


class HostPrefix(Protocol):
    @property
    def network(self) -> str: ...
    @property
    def prefix(self) -> addressing.IPNetwork: ...
    @property
    def gateway(self) -> addressing.IPAddress: ...


class HostView(Protocol):
    """The parts of the agent's host view the plugin reads."""

    @property
    def prefixes(self) -> Sequence[HostPrefix]: ...
    @property
    def layouts(self) -> Mapping[str, addressing.Layout]: ...
    @property
    def tenants(self) -> Mapping[str, tenancy.Tenant]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Deps:
    """What the agent gives the plugin."""

    host: str
    """This host's name in the topology."""
    romanad: Romanad
    view: Callable[[], HostView]
    """The current host view; Unavailable before the agent has one."""
    endpoints: EndpointPort
    state_dir: str
    """The agent's state directory, where the plugin keeps its endpoint map."""
    docker_api: str = ""
    """dockerd's API socket, asked which container holds each endpoint; empty: never asked."""


def own_prefix(hv: HostView, network: str) -> HostPrefix | None:
    """This host's prefix (and gateway) in ``network``."""
    return next((p for p in hv.prefixes if p.network == network), None)
