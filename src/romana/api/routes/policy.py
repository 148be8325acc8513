"""Service ``policy``: Romana policies (docs/api.md, Policies).

A tenant user sees the policies applied to its tenant, and may add or remove only policies
whose every target lies inside its tenant.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body

from romana.api.context import Caller, Ctx
from romana.api.routes import ERRORS
from romana.services import auth, policy

SERVICE = "policy"
router = APIRouter(tags=["policy"], responses=ERRORS)

Policy = dict[str, Any]


def _authorize_change(caller: auth.Principal, item: Policy) -> None:
    if caller.role is auth.Role.TENANT and caller.tenant is not None:
        if not policy.applies_only_to(item, caller.tenant):
            auth.authorize(caller, auth.Action.WRITE)
        return
    auth.authorize(caller, auth.Action.WRITE)


def _visible(caller: auth.Principal, item: Policy) -> bool:
    if caller.role is not auth.Role.TENANT:
        return auth.may(caller, auth.Action.READ)
    return caller.tenant in policy.tenants_of(item)


@router.get("/v1/policies", response_model=list[Policy])
def list_policies(ctx: Ctx, caller: Caller) -> list[Policy]:
    if caller.role is not auth.Role.TENANT:
        auth.authorize(caller, auth.Action.READ)
    return [p for p in ctx.policies.list_all() if _visible(caller, p)]


@router.post("/v1/policies", response_model=list[Policy], status_code=201)
def add_policies(
    ctx: Ctx,
    caller: Caller,
    body: Policy | list[Policy] = Body(...),  # noqa: B008
) -> list[Policy]:
    """Add one Romana policy (v1 or v2 shape) or a list; all or nothing, every issue at once."""
    parsed = ctx.policies.parse(body)
    for item in parsed:
        _authorize_change(caller, item)
    return ctx.policies.add(parsed)


@router.get("/v1/policies/{pid}", response_model=Policy)
def get_policy(pid: str, ctx: Ctx, caller: Caller) -> Policy:
    item = ctx.policies.get(pid)
    if not _visible(caller, item):
        auth.authorize(caller, auth.Action.READ)
    return item


@router.delete("/v1/policies/{pid}", response_model=Policy)
def remove_policy(pid: str, ctx: Ctx, caller: Caller) -> Policy:
    _authorize_change(caller, ctx.policies.get(pid))
    return ctx.policies.remove(pid)
