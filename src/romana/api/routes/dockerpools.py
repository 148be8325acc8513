"""Docker pool bindings (docs/api.md, Docker pools): which tenant, segment and network a Docker
network's IPAM pool stands for (:mod:`romana.services.dockerpools`).

The routes belong to the ``ipam`` service, beside the allocations they lead to. Binding needs
the ``bind-docker-pool`` action: an agent binds only as its own host (the body's ``host``).
Reading, listing and deleting need ``use-docker-pools``, which every agent has on every
binding: a Docker network is shared by every host of the Docker cluster, any of whose dockerd
may attach containers to it or remove it. Tenant and ``openstack`` users have neither.
"""

from __future__ import annotations

from fastapi import APIRouter

from romana.api.context import Caller, Ctx
from romana.api.routes import ERRORS, ipam
from romana.core.dockerpools import DockerPool
from romana.core.identifiers import HostName, NetworkName, SegmentName, TenantName
from romana.services import auth
from romana.wire import rest, rest_addresses

SERVICE = ipam.SERVICE
router = APIRouter(prefix=rest.PREFIX, tags=["ipam"], responses=ERRORS)


@router.put("/docker-pools/{pool}", response_model=rest_addresses.DockerPool)
def bind(
    pool: str, body: rest_addresses.DockerPoolIn, ctx: Ctx, caller: Caller
) -> dict[str, object]:
    """Bind the pool to a tenant, segment and network (idempotent for the same content; 409
    naming what differs otherwise)."""
    auth.authorize(caller, auth.Action.BIND_DOCKER_POOL, auth.Target(host=body.host))
    binding = DockerPool(
        pool,
        TenantName(body.tenant),
        SegmentName(body.segment),
        NetworkName(body.network),
        body.docker_network,
        HostName(body.host),
        body.pair,
    )
    return ctx.docker_pools.bind(binding).to_dict()


@router.get("/docker-pools", response_model=list[rest_addresses.DockerPool])
def list_bindings(ctx: Ctx, caller: Caller, tenant: str | None = None) -> list[dict[str, object]]:
    """Every binding, by pool id; only ``tenant``'s when one is named."""
    auth.authorize(caller, auth.Action.USE_DOCKER_POOLS)
    name = None if tenant is None else TenantName(tenant)
    return [b.to_dict() for b in ctx.docker_pools.list(name)]


@router.get("/docker-pools/{pool}", response_model=rest_addresses.DockerPool)
def get_binding(pool: str, ctx: Ctx, caller: Caller) -> dict[str, object]:
    auth.authorize(caller, auth.Action.USE_DOCKER_POOLS)
    return ctx.docker_pools.get(pool).to_dict()


@router.delete("/docker-pools/{pool}", response_model=rest_addresses.DockerPool)
def delete_binding(pool: str, ctx: Ctx, caller: Caller) -> dict[str, object]:
    """Delete the binding; the deleted binding (404 when the pool is not bound)."""
    auth.authorize(caller, auth.Action.USE_DOCKER_POOLS)
    return ctx.docker_pools.delete(pool).to_dict()
