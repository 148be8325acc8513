"""Service ``policy``: Romana policies, address sets and Kubernetes objects (docs/api.md).

A tenant user sees the policies applied to its tenant, and may add or remove only policies
whose every target lies inside its tenant: those its tenant owns (ids ``<tenant>/<name>``,
:mod:`romana.core.policy.ids`). A path takes an id or a bare name
(:meth:`romana.services.policy.PolicyService.resolve`): a tenant user's bare name is its
tenant's policy of that name first, and it never learns of other tenants' policies, not even
that a name is taken elsewhere (what a missing id gets: 404). An ``openstack`` user likewise
adds, replaces and removes only policies whose every target lies in one tenant it owns,
named by their full id. Address sets and the stored Kubernetes objects (what ``romana
explain`` answers from) are global: admin, service and agent users read them; admin and
service users write them, and an ``openstack`` user writes only the address sets it created
(their owner is recorded beside them, :mod:`romana.services.addresssets`).
"""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import APIRouter, Body, Request

from romana.api import audit, ownership
from romana.api.context import Caller, Ctx
from romana.api.routes import ERRORS
from romana.core.errors import NotFound
from romana.core.policy import ids
from romana.services import auth, policy
from romana.wire import rest, rest_kube

SERVICE = "policy"
router = APIRouter(prefix=rest.PREFIX, tags=["policy"], responses=ERRORS)

Policy = dict[str, Any]


def _authorize_change(ctx: Ctx, caller: auth.Principal, item: Policy) -> None:
    """A policy whose every target lies in one tenant is that tenant's object (a tenant user
    or that tenant's owner may change it); any other policy, and every tiered one (the cluster
    admin's guardrails, :mod:`romana.core.policy.tiers`), is global."""
    tenants = policy.tenants_of(item)
    if len(tenants) == 1 and item.get("tier") is None:
        (tenant,) = tenants
        if policy.applies_only_to(item, tenant):
            ownership.authorize(ctx, caller, auth.Action.WRITE, auth.Target(tenant))
            return
    auth.authorize(caller, auth.Action.WRITE)


def _not_found_for_tenants(caller: auth.Principal, pid: str) -> None:
    """A tenant (or ``openstack``) user asking for a policy it may not see gets what a
    missing id gets."""
    if _scoped(caller):
        raise NotFound(f"policy {pid!r} does not exist")


def _resolve(ctx: Ctx, caller: auth.Principal, ref: str, action: auth.Action) -> str:
    """The id ``ref`` names for ``caller``; other roles are authorized first, so only a
    caller allowed ``action`` learns which tenants own a policy of an ambiguous name."""
    if caller.role is auth.Role.TENANT:
        return ctx.policies.resolve(ref, tenant=caller.tenant)
    if auth.scope_of(caller, action) is auth.Scope.OWNED:
        # Only a full id of a tenant it owns: a bare name could resolve to anyone's policy.
        tenant = ids.split(ref)[0]
        if tenant is None:
            auth.authorize(caller, action)
        ownership.authorize(
            ctx, caller, action, auth.Target(tenant), missing=f"policy {ref!r} does not exist"
        )
        return ctx.policies.resolve(ref)
    auth.authorize(caller, action)
    return ctx.policies.resolve(ref)


def _visible(ctx: Ctx, caller: auth.Principal, item: Policy) -> bool:
    if caller.role is auth.Role.TENANT:
        return caller.tenant in policy.tenants_of(item)
    if auth.scope_of(caller, auth.Action.READ) is auth.Scope.OWNED:
        tenants = policy.tenants_of(item)
        return len(tenants) == 1 and ownership.may(
            ctx, caller, auth.Action.READ, auth.Target(*tenants)
        )
    return auth.may(caller, auth.Action.READ)


def _scoped(caller: auth.Principal) -> bool:
    """Whether ``caller`` reads only some tenants' policies (lists are filtered for it)."""
    return caller.role is auth.Role.TENANT or (
        auth.scope_of(caller, auth.Action.READ) is auth.Scope.OWNED
    )


@router.get("/policies", response_model=list[Policy])
def list_policies(ctx: Ctx, caller: Caller) -> list[Policy]:
    if not _scoped(caller):
        auth.authorize(caller, auth.Action.READ)
    return [p for p in ctx.policies.list_all() if _visible(ctx, caller, p)]


@router.post("/policies", response_model=list[Policy], status_code=201)
def add_policies(
    ctx: Ctx,
    caller: Caller,
    request: Request,
    body: Policy | list[Policy] = Body(...),  # noqa: B008
) -> list[Policy]:
    """Add one Romana policy (v1 or v2 shape) or a list; all or nothing, every issue at once."""
    parsed = ctx.policies.parse(body)
    for item in parsed:
        _authorize_change(ctx, caller, item)
    added = ctx.policies.add(parsed)
    if added:
        audit.name_object(request, *(f"policies/{item['id']}" for item in added))
    return added


@router.get("/policies/{pid:path}", response_model=Policy)
def get_policy(pid: str, ctx: Ctx, caller: Caller) -> Policy:
    """One policy by id (``<tenant>/<name>`` or a global ``<name>``) or by bare name."""
    item = ctx.policies.get(_resolve(ctx, caller, pid, auth.Action.READ))
    if not _visible(ctx, caller, item):
        _not_found_for_tenants(caller, pid)
        auth.authorize(caller, auth.Action.READ)
    return item


@router.put("/policies/{pid:path}", response_model=Policy)
def put_policy(
    pid: str,
    ctx: Ctx,
    caller: Caller,
    request: Request,
    body: Policy = Body(...),  # noqa: B008
) -> Policy:
    """Store one policy under its id, replacing what the id held, in one transaction; the
    path gives the id or the bare name, the policy's targets give its id."""
    parsed = ctx.policies.parse(body)
    for item in parsed:
        _authorize_change(ctx, caller, item)
    for item in parsed:
        with contextlib.suppress(NotFound):
            _authorize_change(ctx, caller, ctx.policies.get(item["id"]))
    stored = ctx.policies.put(pid, body)
    audit.name_object(request, f"policies/{stored['id']}")
    return stored


@router.delete("/policies/{pid:path}", response_model=Policy)
def remove_policy(pid: str, ctx: Ctx, caller: Caller, request: Request) -> Policy:
    """Remove one policy by id or by bare name (resolved as for reading)."""
    resolved = _resolve(ctx, caller, pid, auth.Action.WRITE)
    item = ctx.policies.get(resolved)
    if not _visible(ctx, caller, item):
        _not_found_for_tenants(caller, pid)
    _authorize_change(ctx, caller, item)
    removed = ctx.policies.remove(resolved)
    audit.name_object(request, f"policies/{resolved}")
    return removed


@router.get("/address-sets", response_model=list[rest.AddressSet])
def list_address_sets(ctx: Ctx, caller: Caller) -> list[dict[str, Any]]:
    """Every set; to an ``openstack`` user, the sets it created."""
    owner = auth.claim(caller, auth.Action.READ)
    found = ctx.address_sets.list_all(owner=owner)
    return [{"name": n, "members": m} for n, m in sorted(found.items())]


@router.get("/address-sets/{name}", response_model=rest.AddressSet)
def get_address_set(name: str, ctx: Ctx, caller: Caller) -> dict[str, Any]:
    owner = auth.claim(caller, auth.Action.READ)
    return {"name": name, "members": ctx.address_sets.get(name, owner=owner)}


@router.put("/address-sets/{name}", response_model=rest.AddressSet)
def put_address_set(name: str, body: rest.AddressSetIn, ctx: Ctx, caller: Caller) -> dict[str, Any]:
    """Make the set hold exactly ``members`` (created when absent); every problem at once."""
    owner = auth.claim(caller, auth.Action.WRITE)
    return {"name": name, "members": ctx.address_sets.put(name, body.members, owner=owner)}


@router.delete("/address-sets/{name}", response_model=rest.AddressSet)
def remove_address_set(name: str, ctx: Ctx, caller: Caller) -> dict[str, Any]:
    owner = auth.claim(caller, auth.Action.WRITE)
    return {"name": name, "members": ctx.address_sets.remove(name, owner=owner)}


@router.get("/kube/objects", response_model=rest_kube.KubeObjects)
def get_kube_objects(ctx: Ctx, caller: Caller) -> dict[str, Any]:
    """The namespaces, pods and NetworkPolicies the last Kubernetes sync stored."""
    auth.authorize(caller, auth.Action.READ)
    return ctx.kube_objects.get()


@router.put("/kube/objects", response_model=rest_kube.KubeObjects)
def put_kube_objects(body: rest_kube.KubeObjectsIn, ctx: Ctx, caller: Caller) -> dict[str, Any]:
    """Replace the stored objects; writes only what changed; every problem at once."""
    auth.authorize(caller, auth.Action.WRITE)
    return ctx.kube_objects.put(body.model_dump())
