"""External pools, external IPs and egress NAT (docs/api.md, External addresses):
:mod:`romana.services.external`.

The routes belong to the ``ipam`` service, beside the allocations external IPs are assigned
to. Pools and NAT settings need ``manage-external``, an admin's alone: agents learn them
through their host view. External IPs need ``assign-external-ip`` on the tenant of the
endpoint's allocation: a tenant user assigns, reads, lists and unassigns only its own
tenant's, an ``openstack`` user only those of the tenants it owns (the tenant's recorded
owner, :mod:`romana.api.ownership`), an agent only for the endpoints living on its own host
(the allocation's host: the Docker plugin assigns as its host; it lists none), and another
tenant's (host's) endpoint or external IP answers 404, as a missing one does.
"""

from __future__ import annotations

import contextlib
import ipaddress

from fastapi import APIRouter, Request, Response

from romana.api import ownership
from romana.api.context import Caller, Context, Ctx
from romana.api.routes import ERRORS, answer_made, ipam, repeatable_post
from romana.core import external
from romana.core import ipam as core_ipam
from romana.core.errors import NotFound
from romana.core.identifiers import AllocationKey, NetworkName, TenantName
from romana.services import auth
from romana.wire import rest, rest_addresses

SERVICE = ipam.SERVICE
router = APIRouter(prefix=rest.PREFIX, tags=["ipam"], responses=ERRORS)


# -- pools -------------------------------------------------------------------------------


@router.put("/external-pools/{name}", response_model=rest_addresses.ExternalPool)
def create_pool(
    name: str, body: rest_addresses.ExternalPoolIn, ctx: Ctx, caller: Caller
) -> dict[str, object]:
    """Create the pool (idempotent for the same content; 409 naming what differs otherwise)."""
    auth.authorize(caller, auth.Action.MANAGE_EXTERNAL)
    pool = external.parse_pool(name, body.cidrs, body.group, body.network)
    return ctx.external.create(pool).to_dict()


@router.get("/external-pools", response_model=list[rest_addresses.ExternalPool])
def list_pools(ctx: Ctx, caller: Caller) -> list[dict[str, object]]:
    """Every pool, by name."""
    auth.authorize(caller, auth.Action.MANAGE_EXTERNAL)
    return [p.to_dict() for p in ctx.external.list()]


@router.get("/external-pools/{name}", response_model=rest_addresses.ExternalPool)
def get_pool(name: str, ctx: Ctx, caller: Caller) -> dict[str, object]:
    auth.authorize(caller, auth.Action.MANAGE_EXTERNAL)
    return ctx.external.get(name).to_dict()


@router.delete("/external-pools/{name}", response_model=rest_addresses.ExternalPool)
def delete_pool(name: str, ctx: Ctx, caller: Caller) -> dict[str, object]:
    """Delete the pool; the deleted pool (409 while any of its addresses is assigned)."""
    auth.authorize(caller, auth.Action.MANAGE_EXTERNAL)
    return ctx.external.delete(name).to_dict()


# -- external IPs ------------------------------------------------------------------------


def _missing(endpoint: str) -> str:
    """What a missing endpoint answers (404), also to a caller it belongs to no tenant of."""
    try:
        return f"address {ipaddress.ip_address(endpoint)} is not allocated"
    except ValueError:
        return f"no allocation {endpoint!r}"


def _scoped(caller: auth.Principal, tenant: TenantName) -> TenantName | None:
    """The tenant a caller authorised for ``tenant`` alone must find in the transaction too
    (the endpoint may change hands in between); None for a caller allowed any."""
    scope = auth.scope_of(caller, auth.Action.ASSIGN_EXTERNAL_IP)
    return None if scope is auth.Scope.ANY else tenant


def _target(ctx: Context, assigned: external.ExternalIp) -> auth.Target:
    """What an assigned external IP is of: its endpoint's tenant, and the host that endpoint
    lives on (an agent acts on its own host's only); no host for a VIP's address."""
    host = None
    if assigned.key:
        with contextlib.suppress(NotFound):
            host = ctx.ipam.get(assigned.key).host
    return auth.Target(tenant=assigned.tenant, host=host)


def _authorized(ctx: Context, caller: auth.Principal, address: str) -> external.ExternalIp:
    """The assignment of external IP ``address``, for a caller allowed to act on it; 404
    when it is not assigned or is another tenant's (host's)."""
    parsed = core_ipam.parse_address(address)
    assigned = ctx.external.ip(parsed)
    missing = f"external IP {parsed} is not assigned"
    target = _target(ctx, assigned)
    ownership.authorize(ctx, caller, auth.Action.ASSIGN_EXTERNAL_IP, target, missing=missing)
    return assigned


@router.post(
    "/external-ips", **repeatable_post(rest_addresses.ExternalIp, "It was assigned already.")
)
def assign(
    body: rest_addresses.ExternalIpIn,
    response: Response,
    ctx: Ctx,
    caller: Caller,
    request: Request,
) -> dict[str, object]:
    """Assign an external IP of ``pool`` to the endpoint (its allocation key or one of its
    romana addresses): ``address``, or the pool's lowest free one."""
    alloc = ctx.external.endpoint(body.endpoint)
    target = auth.Target(tenant=alloc.tenant, host=alloc.host)
    missing = _missing(body.endpoint)
    ownership.authorize(ctx, caller, auth.Action.ASSIGN_EXTERNAL_IP, target, missing=missing)
    address = None if body.address is None else core_ipam.parse_address(body.address)
    assigned, created = ctx.external.assign_reporting(
        body.pool, body.endpoint, address, tenant=_scoped(caller, alloc.tenant)
    )
    answer_made(request, response, created, f"external-ips/{assigned.address}")
    return assigned.to_dict()


@router.get("/external-ips", response_model=list[rest_addresses.ExternalIp])
def list_ips(
    ctx: Ctx, caller: Caller, pool: str | None = None, key: str | None = None
) -> list[dict[str, object]]:
    """Assigned external IPs, filtered by pool and allocation key; a tenant user sees only
    its own tenant's, an ``openstack`` user only those of the tenants it owns."""
    tenant = None
    scope = auth.scope_of(caller, auth.Action.ASSIGN_EXTERNAL_IP)
    if scope is auth.Scope.OWNED:
        owned = {t.name for t in ctx.tenants.list_all() if t.owner == caller.username}
        found = ctx.external.ips(pool, None if key is None else AllocationKey(key))
        return [ip.to_dict() for ip in found if ip.tenant in owned]
    if scope is not auth.Scope.ANY:
        tenant = caller.tenant
        auth.authorize(caller, auth.Action.ASSIGN_EXTERNAL_IP, auth.Target(tenant=tenant))
    name = None if tenant is None else TenantName(tenant)
    found = ctx.external.ips(pool, None if key is None else AllocationKey(key), name)
    return [ip.to_dict() for ip in found]


@router.get("/external-ips/{address}", response_model=rest_addresses.ExternalIp)
def get_ip(address: str, ctx: Ctx, caller: Caller) -> dict[str, object]:
    return _authorized(ctx, caller, address).to_dict()


@router.delete("/external-ips/{address}", response_model=rest_addresses.ExternalIp)
def unassign(address: str, ctx: Ctx, caller: Caller) -> dict[str, object]:
    """Unassign the external IP; the assignment it was (404 when it is not assigned)."""
    assigned = _authorized(ctx, caller, address)
    return ctx.external.unassign(
        assigned.address, tenant=_scoped(caller, assigned.tenant)
    ).to_dict()


# -- egress NAT --------------------------------------------------------------------------


@router.get("/egress-nat", response_model=list[rest_addresses.EgressNat])
def list_nat(ctx: Ctx, caller: Caller) -> list[dict[str, object]]:
    """Every network's egress NAT setting, stored or the default (on), in topology order."""
    auth.authorize(caller, auth.Action.MANAGE_EXTERNAL)
    return [n.to_dict() for n in ctx.external.nats()]


@router.get("/networks/{network}/egress-nat", response_model=rest_addresses.EgressNat)
def get_nat(network: str, ctx: Ctx, caller: Caller) -> dict[str, object]:
    auth.authorize(caller, auth.Action.MANAGE_EXTERNAL)
    return ctx.external.nat(NetworkName(network)).to_dict()


@router.put("/networks/{network}/egress-nat", response_model=rest_addresses.EgressNat)
def set_nat(
    network: str, body: rest_addresses.EgressNatIn, ctx: Ctx, caller: Caller
) -> dict[str, object]:
    """Set the network's egress NAT (idempotent)."""
    auth.authorize(caller, auth.Action.MANAGE_EXTERNAL)
    setting = external.parse_nat(network, body.mode, body.tenants, body.no_nat)
    return ctx.external.set_nat(setting).to_dict()
