"""Service ``tenant``: tenants, their segments and quotas (docs/api.md, Tenants and segments;
Quotas). Quotas are read by whoever may read the tenant and set by an admin only. An
``openstack`` user reads and changes only the tenants recorded as its own
(:mod:`romana.api.ownership`), and is recorded as the owner of each tenant it creates."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from romana.api import audit, ownership
from romana.api.context import Caller, Ctx
from romana.api.routes import ERRORS
from romana.core.errors import Forbidden
from romana.core.identifiers import NetworkName, SegmentName, TenantName
from romana.services import auth
from romana.wire import rest

SERVICE = "tenant"
router = APIRouter(prefix=rest.PREFIX, tags=["tenant"], responses=ERRORS)


@router.get("/tenants", response_model=list[rest.Tenant])
def list_tenants(ctx: Ctx, caller: Caller) -> list[dict[str, object]]:
    """Every tenant the caller may read (a tenant user sees only its own)."""
    return [
        t.to_dict()
        for t in ctx.tenants.list_all()
        if auth.may(caller, auth.Action.READ, auth.Target(t.name, owner=t.owner or None))
    ]


@router.post("/tenants", response_model=rest.Tenant, status_code=201)
def create_tenant(
    body: rest.TenantIn, ctx: Ctx, caller: Caller, request: Request
) -> dict[str, object]:
    """Create a tenant with its isolation (default: romana, segments isolated); whoever may
    create tenants chooses it, only an admin changes it later. Its ``owner`` is the
    ``openstack`` user that acts in it: a caller that may act only in tenants it owns is the
    owner of those it creates (and may name no other)."""
    claim = auth.claim(caller, auth.Action.CREATE_TENANT)
    if claim is not None and body.owner not in (None, claim):
        raise Forbidden(f"{caller.role} user {claim!r} may create tenants only as their owner")
    owner = claim or body.owner or ""
    isolation = body.isolation.value()
    networks = [NetworkName(n) for n in body.networks]
    made = ctx.tenants.create(
        TenantName(body.name), body.external_id, networks, isolation, owner=owner
    )
    audit.name_object(request, f"tenants/{made.name}")
    return made.to_dict()


@router.get("/tenants/{name}", response_model=rest.Tenant)
def get_tenant(name: str, ctx: Ctx, caller: Caller) -> dict[str, object]:
    ownership.authorize(ctx, caller, auth.Action.READ, auth.Target(name), missing=_missing(name))
    return ctx.tenants.get(TenantName(name)).to_dict()


@router.put("/tenants/{name}/isolation", response_model=rest.Tenant)
def set_isolation(name: str, body: rest.IsolationIn, ctx: Ctx, caller: Caller) -> dict[str, object]:
    """Change how the tenant's endpoints are isolated (admin only): ``mode`` romana or
    kubernetes, and in romana mode whether its ``segments`` are isolated or open."""
    auth.authorize(caller, auth.Action.SET_ISOLATION)
    return ctx.tenants.set_isolation(TenantName(name), body.value()).to_dict()


@router.put("/tenants/{name}/owner", response_model=rest.Tenant)
def set_owner(name: str, body: rest.OwnerIn, ctx: Ctx, caller: Caller) -> dict[str, object]:
    """Hand the tenant to an ``openstack`` user (Neutron's drivers), or take it back with
    null (admin only)."""
    auth.authorize(caller, auth.Action.SET_OWNER)
    return ctx.tenants.set_owner(TenantName(name), body.owner or "").to_dict()


@router.delete("/tenants/{name}", response_model=rest.Tenant)
def delete_tenant(name: str, ctx: Ctx, caller: Caller) -> dict[str, object]:
    auth.authorize(caller, auth.Action.WRITE)
    return ctx.tenants.delete(TenantName(name)).to_dict()


@router.post("/tenants/{name}/segments", response_model=rest.Tenant, status_code=201)
def add_segment(
    name: str, body: rest.SegmentIn, ctx: Ctx, caller: Caller, request: Request
) -> dict[str, object]:
    ownership.authorize(ctx, caller, auth.Action.WRITE, auth.Target(name), missing=_missing(name))
    tenant = ctx.tenants.add_segment(TenantName(name), SegmentName(body.name))
    audit.name_object(request, f"tenants/{name}/segments/{body.name}")
    return tenant.to_dict()


@router.delete("/tenants/{name}/segments/{segment}", response_model=rest.Tenant)
def remove_segment(name: str, segment: str, ctx: Ctx, caller: Caller) -> dict[str, object]:
    ownership.authorize(ctx, caller, auth.Action.WRITE, auth.Target(name), missing=_missing(name))
    return ctx.tenants.remove_segment(TenantName(name), SegmentName(segment)).to_dict()


@router.get("/quotas", response_model=rest.Quotas)
def get_quota_defaults(ctx: Ctx, caller: Caller) -> dict[str, int]:
    """The quotas of every tenant without an override of its own."""
    auth.authorize(caller, auth.Action.READ)
    return ctx.quotas.defaults().to_dict()


@router.put("/quotas", response_model=rest.Quotas)
def set_quota_defaults(body: rest.QuotasIn, ctx: Ctx, caller: Caller) -> dict[str, int]:
    """Change some defaults (admin only); quotas left out stay as they are."""
    auth.authorize(caller, auth.Action.SET_QUOTA)
    return ctx.quotas.set_defaults(body.model_dump(exclude_none=True)).to_dict()


@router.get("/tenants/{name}/quota", response_model=rest.TenantQuota)
def get_tenant_quota(name: str, ctx: Ctx, caller: Caller) -> dict[str, Any]:
    """The tenant's limits in force, its overrides and what it holds now."""
    ownership.authorize(ctx, caller, auth.Action.READ, auth.Target(name), missing=_missing(name))
    return ctx.quotas.report(TenantName(name))


@router.put("/tenants/{name}/quota", response_model=rest.TenantQuota)
def set_tenant_quota(
    name: str, body: rest.TenantQuotaIn, ctx: Ctx, caller: Caller
) -> dict[str, Any]:
    """Override some of the tenant's quotas (admin only); null puts one back to the default."""
    auth.authorize(caller, auth.Action.SET_QUOTA)
    return ctx.quotas.set_override(TenantName(name), body.model_dump(exclude_unset=True))


def _missing(name: str) -> str:
    """What a missing tenant answers (404), also to a tenant user naming another tenant."""
    return f"tenant {name!r} does not exist"
