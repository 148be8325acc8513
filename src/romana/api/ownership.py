"""The owner a route passes to :mod:`romana.services.authz`: what romanad recorded on the tenant.

An ``openstack``-role user acts only in tenants whose record names it as ``owner``
(:data:`romana.services.authz.Scope.OWNED`). Routes that name a tenant authorise through
:func:`authorize` and :func:`may` here, which read that record and hand its owner to the pure
rule; the tenant's name is never taken as evidence of who owns it.

Invariant: the tenant record is read only for a caller whose grant of the action is scoped to
what it owns, so other roles pay no extra store read; a tenant that does not exist has no
owner, and such a caller is then refused (or answered 404) as for another's tenant.
"""

from __future__ import annotations

import dataclasses

from romana.api.context import Context
from romana.core.errors import NotFound
from romana.core.identifiers import TenantName
from romana.services import auth


def tenant_owner(
    ctx: Context, caller: auth.Principal, action: auth.Action, tenant: str | None
) -> str | None:
    """The recorded owner of ``tenant`` when ``caller``'s grant of ``action`` depends on it;
    None otherwise, and for a tenant that is missing or has no owner."""
    if tenant is None or auth.scope_of(caller, action) is not auth.Scope.OWNED:
        return None
    try:
        return ctx.tenants.get(TenantName(tenant)).owner or None
    except NotFound:
        return None


def _owned(
    ctx: Context, caller: auth.Principal, action: auth.Action, target: auth.Target
) -> auth.Target:
    return dataclasses.replace(target, owner=tenant_owner(ctx, caller, action, target.tenant))


def authorize(
    ctx: Context,
    caller: auth.Principal,
    action: auth.Action,
    target: auth.Target = auth.ANY_OBJECT,
    *,
    missing: str | None = None,
) -> None:
    """:func:`romana.services.authz.authorize` on ``target`` owned as its tenant's record says."""
    auth.authorize(caller, action, _owned(ctx, caller, action, target), missing=missing)


def may(ctx: Context, caller: auth.Principal, action: auth.Action, target: auth.Target) -> bool:
    """:func:`romana.services.authz.may` on ``target`` owned as its tenant's record says."""
    return auth.may(caller, action, _owned(ctx, caller, action, target))
