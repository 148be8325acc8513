"""VIPs and their leases (docs/api.md, VIPs): :mod:`romana.services.vips`.

The routes belong to the ``ipam`` service, beside the external addresses a VIP's address is
one of. Managing VIPs needs ``manage-vips``: admins and services (the Kubernetes listener
makes one per LoadBalancer Service), never a tenant user or an agent. The lease call needs
``lease-vip`` for the host asking: an agent asks only as the host it is bound to.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from romana.api.context import Caller, Ctx
from romana.api.routes import ERRORS, answer_made, ipam, repeatable_post
from romana.core import ipam as core_ipam
from romana.core.identifiers import HostName
from romana.core.vips import Vip
from romana.services import auth
from romana.wire import rest, rest_addresses

SERVICE = ipam.SERVICE
router = APIRouter(prefix=rest.PREFIX, tags=["ipam"], responses=ERRORS)


def _shown(vip: Vip, holder: str | None) -> dict[str, object]:
    return {**vip.to_dict(), "holder": holder}


@router.post("/vips", **repeatable_post(rest_addresses.Vip, "It existed already, the same."))
def create(
    body: rest_addresses.VipIn, response: Response, ctx: Ctx, caller: Caller, request: Request
) -> dict[str, object]:
    """Create the VIP: ``address``, or the pool's lowest free one of the endpoints' family,
    in front of the endpoints (allocation keys or romana addresses)."""
    auth.authorize(caller, auth.Action.MANAGE_VIPS)
    address = None if body.address is None else core_ipam.parse_address(body.address)
    vip, created = ctx.vips.create_reporting(body.name, body.pool, body.endpoints, address)
    answer_made(request, response, created, f"vips/{vip.name}")
    return _shown(vip, ctx.vips.holder(vip.name))


@router.get("/vips", response_model=list[rest_addresses.Vip])
def list_vips(ctx: Ctx, caller: Caller) -> list[dict[str, object]]:
    """Every VIP, by name, with the host holding it now."""
    auth.authorize(caller, auth.Action.MANAGE_VIPS)
    held = ctx.vips.current()
    return [_shown(v, held.get(v.name)) for v in ctx.vips.list()]


@router.get("/vips/{name}", response_model=rest_addresses.Vip)
def get(name: str, ctx: Ctx, caller: Caller) -> dict[str, object]:
    auth.authorize(caller, auth.Action.MANAGE_VIPS)
    return _shown(ctx.vips.get(name), ctx.vips.holder(name))


@router.put("/vips/{name}/endpoints", response_model=rest_addresses.Vip)
def set_endpoints(
    name: str, body: rest_addresses.VipEndpointsIn, ctx: Ctx, caller: Caller
) -> dict[str, object]:
    """Put the VIP in front of these endpoints instead (idempotent)."""
    auth.authorize(caller, auth.Action.MANAGE_VIPS)
    return _shown(ctx.vips.set_endpoints(name, body.endpoints), ctx.vips.holder(name))


@router.delete("/vips/{name}", response_model=rest_addresses.Vip)
def delete(name: str, ctx: Ctx, caller: Caller) -> dict[str, object]:
    """Delete the VIP, freeing its address; the VIP it was (holder: who held it)."""
    auth.authorize(caller, auth.Action.MANAGE_VIPS)
    holder = ctx.vips.holder(name)
    return _shown(ctx.vips.delete(name), holder)


@router.post("/vips/{name}/lease", response_model=rest_addresses.VipLease)
def lease(
    name: str, body: rest_addresses.VipLeaseIn, ctx: Ctx, caller: Caller
) -> dict[str, object]:
    """Ask for (or renew, or with ``release`` give up) the VIP's lease as ``host``."""
    auth.authorize(caller, auth.Action.LEASE_VIP, auth.Target(host=body.host))
    return ctx.vips.lease(name, HostName(body.host), body.release)
