"""Service ``ipam``: allocations and address lookups (docs/api.md, IPAM).

Allocation routes authorise against the tenant and the host of the allocation: a tenant user
may only allocate, see and release addresses of its own tenant, an agent only addresses on
its own host, an ``openstack`` user only addresses of the tenants it owns (on any host).
Another tenant's or host's allocation answers 404, as a missing one does, and a key it holds
is refused to such a caller without naming its holder. Saying what holds an allocation (its
workload) is authorised as releasing it is.

The routes on an agent's path (allocate, read, move, name the workload, release) are
coroutines that make one thread-pool call for all their store work, authorisation included;
FastAPI then checks their one-allocation answer against the model on the event loop. As plain
``def`` handlers they would take two trips through the pool, the second only to check the
answer. Listing and decoding stay plain handlers: their answers can be large.
"""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import APIRouter, Request, Response

from romana.api import audit, ownership
from romana.api.context import Caller, Context, Ctx
from romana.api.routes import ERRORS, answer_made, repeatable_post
from romana.core import addressing, ipam
from romana.core.errors import NotFound
from romana.core.identifiers import AllocationKey, HostName, SegmentName, TenantName
from romana.services import auth
from romana.wire import rest, rest_addresses

SERVICE = "ipam"
router = APIRouter(prefix=rest.PREFIX, tags=["ipam"], responses=ERRORS)


@router.post(
    "/allocations", **repeatable_post(rest_addresses.Allocation, "The key existed already.")
)
async def allocate(
    body: rest_addresses.AllocationIn,
    response: Response,
    ctx: Ctx,
    caller: Caller,
    request: Request,
) -> dict[str, object]:
    """Allocate addresses for ``key`` on ``host`` (idempotent per key), ``address`` among them
    when the body names one."""
    alloc, created = await ctx.offload(_allocate, ctx, caller, body)
    answer_made(request, response, created, f"allocations/{alloc.key}")
    return alloc.to_dict()


def _allocate(
    ctx: Context, caller: auth.Principal, body: rest_addresses.AllocationIn
) -> tuple[ipam.Allocation, bool]:
    ownership.authorize(ctx, caller, auth.Action.ALLOCATE, auth.Target(body.tenant, body.host))
    try:
        return ctx.ipam.allocate_reporting(
            AllocationKey(body.key),
            HostName(body.host),
            TenantName(body.tenant),
            SegmentName(body.segment),
            body.address,
        )
    except (ipam.KeyInUse, ipam.AddressInUse) as exc:
        held = exc.existing
        # Keys are global, and a requested address may be held by an allocation moved to
        # another host: naming the holder would tell a scoped caller another tenant's or
        # host's allocations, which it may not read.
        if not ownership.may(ctx, caller, auth.Action.READ, auth.Target(held.tenant, held.host)):
            raise exc.undisclosed() from None
        raise


@router.get("/allocations", response_model=list[rest_addresses.Allocation])
def list_allocations(
    ctx: Ctx, caller: Caller, host: str | None = None, tenant: str | None = None
) -> list[dict[str, object]]:
    """Allocations, filtered by host and tenant; a tenant user sees only its own tenant's, an
    ``openstack`` user only those of the tenants it owns."""
    if caller.role is auth.Role.TENANT and tenant is None:
        tenant = caller.tenant
    host_name = None if host is None else HostName(host)
    if tenant is None and auth.scope_of(caller, auth.Action.READ) is auth.Scope.OWNED:
        owned = {t.name for t in ctx.tenants.list_all() if t.owner == caller.username}
        found = ctx.ipam.list_all(host=host_name)
        return [a.to_dict() for a in found if a.tenant in owned]
    ownership.authorize(ctx, caller, auth.Action.READ, auth.Target(tenant, host))
    tenant_name = None if tenant is None else TenantName(tenant)
    return [a.to_dict() for a in ctx.ipam.list_all(host=host_name, tenant=tenant_name)]


@router.get("/allocations/{key}", response_model=rest_addresses.Allocation)
async def get_allocation(key: str, ctx: Ctx, caller: Caller) -> dict[str, object]:
    return await ctx.offload(_get, ctx, caller, key)


def _get(ctx: Context, caller: auth.Principal, key: str) -> dict[str, object]:
    alloc = ctx.ipam.get(AllocationKey(key))
    missing = f"no allocation with key {key!r}"
    ownership.authorize(
        ctx, caller, auth.Action.READ, auth.Target(alloc.tenant, alloc.host), missing=missing
    )
    return alloc.to_dict()


@router.delete("/allocations/{key}", response_model=rest_addresses.Allocation)
async def release(key: str, ctx: Ctx, caller: Caller) -> dict[str, object]:
    return await ctx.offload(_release, ctx, caller, key)


def _release(ctx: Context, caller: auth.Principal, key: str) -> dict[str, object]:
    missing = f"no allocation with key {key!r}"
    alloc = ctx.ipam.get(AllocationKey(key))
    ownership.authorize(
        ctx, caller, auth.Action.ALLOCATE, auth.Target(alloc.tenant, alloc.host), missing=missing
    )
    return ctx.ipam.release(AllocationKey(key)).to_dict()


@router.put("/allocations/{key}/host", response_model=rest_addresses.Allocation)
async def move(
    key: str, body: rest_addresses.AllocationHostIn, ctx: Ctx, caller: Caller
) -> dict[str, object]:
    """Make the allocation live on ``host``, keeping its addresses (idempotent); moved back to
    the host its addresses encode, it carries no exception route any more."""
    return await ctx.offload(_move, ctx, caller, key, HostName(body.host))


def _move(ctx: Context, caller: auth.Principal, key: str, host: HostName) -> dict[str, object]:
    if auth.scope_of(caller, auth.Action.MOVE_ALLOCATION) is not auth.Scope.OWNED:
        auth.authorize(caller, auth.Action.MOVE_ALLOCATION)
        return ctx.ipam.move(AllocationKey(key), host).to_dict()
    # A caller scoped to what it owns moves only its tenants' allocations, and learns of no
    # other (404, as for a missing key).
    alloc = ctx.ipam.get(AllocationKey(key))
    missing = f"no allocation with key {key!r}"
    ownership.authorize(
        ctx, caller, auth.Action.MOVE_ALLOCATION, auth.Target(alloc.tenant), missing=missing
    )
    return ctx.ipam.move(AllocationKey(key), host).to_dict()


@router.put("/allocations/{key}/workload", response_model=rest_addresses.Allocation)
async def set_workload(
    key: str, body: rest_addresses.AllocationWorkloadIn, ctx: Ctx, caller: Caller
) -> dict[str, object]:
    """Say what holds the allocation (``docker:<container id>``); idempotent. Whoever may
    release the allocation may say so: its host's agent, which learns it, and admins."""
    return await ctx.offload(_set_workload, ctx, caller, key, body.workload)


def _set_workload(
    ctx: Context, caller: auth.Principal, key: str, workload: str
) -> dict[str, object]:
    missing = f"no allocation with key {key!r}"
    alloc = ctx.ipam.get(AllocationKey(key))
    ownership.authorize(
        ctx, caller, auth.Action.ALLOCATE, auth.Target(alloc.tenant, alloc.host), missing=missing
    )
    return ctx.ipam.set_workload(AllocationKey(key), workload).to_dict()


@router.delete("/addresses/{address}", response_model=rest_addresses.Allocation)
async def release_address(
    address: str, ctx: Ctx, caller: Caller, request: Request
) -> dict[str, object]:
    key, released = await ctx.offload(_release_address, ctx, caller, address)
    audit.name_object(request, f"allocations/{key}")  # the path names only the address
    return released


def _release_address(
    ctx: Context, caller: auth.Principal, address: str
) -> tuple[AllocationKey, dict[str, object]]:
    key = ctx.ipam.key_of(address)
    missing = f"address {ipam.parse_address(address)} is not allocated"
    alloc = ctx.ipam.get(key)
    ownership.authorize(
        ctx, caller, auth.Action.ALLOCATE, auth.Target(alloc.tenant, alloc.host), missing=missing
    )
    return key, ctx.ipam.release(key).to_dict()


@router.get("/decode/{address}", response_model=rest_addresses.Decoded)
def decode(address: str, ctx: Ctx, caller: Caller) -> dict[str, Any]:
    """What an address means: network, host, tenant, segment, endpoint, and its allocation.

    A caller who may not read the address's tenant gets the answer an address of no tenant
    gets, so decoding cannot list other tenants' names."""
    result = _decode(ctx, address)
    missing = f"address {result['address']} decodes to no tenant you may read"
    ownership.authorize(
        ctx, caller, auth.Action.READ, auth.Target(result["tenant"]), missing=missing
    )
    return result


def _decode(ctx: Context, address: str) -> dict[str, Any]:
    view = ctx.topology.view()
    addr = ipam.parse_address(address)
    lay = addressing.find_layout(view.layouts, addr)
    d = addressing.decode(lay, addr)
    host = next(
        (
            h["name"]
            for h in ctx.topology.list_hosts()
            if h.get("indices", {}).get(lay.name) == d.host
        ),
        None,
    )
    tenant = next(
        (t for t in ctx.tenants.list_all() if t.ids.get(lay.name) == d.tenant),
        None,
    )
    segment = None
    if tenant is not None:
        segment = next((s for s, sid in tenant.segments.items() if sid == d.segment), None)
    allocation = None
    with contextlib.suppress(NotFound):
        allocation = ctx.ipam.get(ctx.ipam.key_of(str(addr))).to_dict()
    moved = allocation is not None and "origin" in allocation
    return {
        "address": str(addr),
        "network": lay.name,
        "host_index": d.host,
        "host": host,
        "tenant_id": d.tenant,
        "tenant": tenant.name if tenant is not None else None,
        "segment_id": d.segment,
        "segment": segment,
        "ordinal": d.ordinal,
        "host_prefix": str(d.host_prefix),
        "is_gateway": d.is_gateway,
        "allocation": allocation,
        "lives_on": allocation["host"] if moved and allocation is not None else None,
    }
