"""Service ``tenant``: tenants, their segments and quotas (docs/api.md, Tenants and segments;
Quotas). Quotas are read by whoever may read the tenant and set by an admin only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from romana.api import audit, schemas
from romana.api.context import Caller, Ctx
from romana.api.routes import ERRORS
from romana.services import auth

SERVICE = "tenant"
router = APIRouter(tags=["tenant"], responses=ERRORS)


@router.get("/v1/tenants", response_model=list[schemas.Tenant])
def list_tenants(ctx: Ctx, caller: Caller) -> list[dict[str, object]]:
    """Every tenant the caller may read (a tenant user sees only its own)."""
    return [
        t.to_dict() for t in ctx.tenants.list_all() if auth.may(caller, auth.Action.READ, t.name)
    ]


@router.post("/v1/tenants", response_model=schemas.Tenant, status_code=201)
def create_tenant(
    body: schemas.TenantIn, ctx: Ctx, caller: Caller, request: Request
) -> dict[str, object]:
    """Create a tenant with its isolation (default: romana, segments isolated); whoever may
    create tenants chooses it, only an admin changes it later."""
    auth.authorize(caller, auth.Action.WRITE)
    isolation = body.isolation.value()
    made = ctx.tenants.create(body.name, body.external_id, body.networks, isolation)
    audit.name_object(request, f"tenants/{made.name}")
    return made.to_dict()


@router.get("/v1/tenants/{name}", response_model=schemas.Tenant)
def get_tenant(name: str, ctx: Ctx, caller: Caller) -> dict[str, object]:
    auth.authorize_found(caller, auth.Action.READ, name, _missing(name))
    return ctx.tenants.get(name).to_dict()


@router.put("/v1/tenants/{name}/isolation", response_model=schemas.Tenant)
def set_isolation(
    name: str, body: schemas.IsolationIn, ctx: Ctx, caller: Caller
) -> dict[str, object]:
    """Change how the tenant's endpoints are isolated (admin only): ``mode`` romana or
    kubernetes, and in romana mode whether its ``segments`` are isolated or open."""
    auth.authorize(caller, auth.Action.SET_ISOLATION)
    return ctx.tenants.set_isolation(name, body.value()).to_dict()


@router.delete("/v1/tenants/{name}", response_model=schemas.Tenant)
def delete_tenant(name: str, ctx: Ctx, caller: Caller) -> dict[str, object]:
    auth.authorize(caller, auth.Action.WRITE)
    return ctx.tenants.delete(name).to_dict()


@router.post("/v1/tenants/{name}/segments", response_model=schemas.Tenant, status_code=201)
def add_segment(
    name: str, body: schemas.SegmentIn, ctx: Ctx, caller: Caller, request: Request
) -> dict[str, object]:
    auth.authorize_found(caller, auth.Action.WRITE, name, _missing(name))
    tenant = ctx.tenants.add_segment(name, body.name)
    audit.name_object(request, f"tenants/{name}/segments/{body.name}")
    return tenant.to_dict()


@router.delete("/v1/tenants/{name}/segments/{segment}", response_model=schemas.Tenant)
def remove_segment(name: str, segment: str, ctx: Ctx, caller: Caller) -> dict[str, object]:
    auth.authorize_found(caller, auth.Action.WRITE, name, _missing(name))
    return ctx.tenants.remove_segment(name, segment).to_dict()


@router.get("/v1/quotas", response_model=schemas.Quotas)
def get_quota_defaults(ctx: Ctx, caller: Caller) -> dict[str, int]:
    """The quotas of every tenant without an override of its own."""
    auth.authorize(caller, auth.Action.READ)
    return ctx.quotas.defaults().to_dict()


@router.put("/v1/quotas", response_model=schemas.Quotas)
def set_quota_defaults(body: schemas.QuotasIn, ctx: Ctx, caller: Caller) -> dict[str, int]:
    """Change some defaults (admin only); quotas left out stay as they are."""
    auth.authorize(caller, auth.Action.SET_QUOTA)
    return ctx.quotas.set_defaults(body.model_dump(exclude_none=True)).to_dict()


@router.get("/v1/tenants/{name}/quota", response_model=schemas.TenantQuota)
def get_tenant_quota(name: str, ctx: Ctx, caller: Caller) -> dict[str, Any]:
    """The tenant's limits in force, its overrides and what it holds now."""
    auth.authorize_found(caller, auth.Action.READ, name, _missing(name))
    return ctx.quotas.report(name)


@router.put("/v1/tenants/{name}/quota", response_model=schemas.TenantQuota)
def set_tenant_quota(
    name: str, body: schemas.TenantQuotaIn, ctx: Ctx, caller: Caller
) -> dict[str, Any]:
    """Override some of the tenant's quotas (admin only); null puts one back to the default."""
    auth.authorize(caller, auth.Action.SET_QUOTA)
    return ctx.quotas.set_override(name, body.model_dump(exclude_unset=True))


def _missing(name: str) -> str:
    """What a missing tenant answers (404), also to a tenant user naming another tenant."""
    return f"tenant {name!r} does not exist"
