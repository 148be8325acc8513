"""Attributed drops (service ``agent-view``): agents send them, readers follow them.

``POST /v1/hosts/{name}/drops`` takes a batch of the drops host ``name``'s firewall logged,
from that host's agent only (action ``report-drops``: an agent is bound to its host).
``GET /v1/drops?after=&wait=&host=&tenant=`` is a long poll over the events romanad keeps
in memory (:mod:`romana.services.drops`), like the host view's: it answers the events after
``after`` at once, or waits up to ``wait`` seconds for the first, holding no thread.

Who reads what (action ``read``):

* admin and service users read every event, and may filter by host and tenant;
* a tenant user reads only events with a side in its own tenant (``tenant`` defaults to it;
  another tenant is 403), sees the other side as a bare address, and a policy of another
  tenant as ``policy of another tenant``; an ``openstack`` user reads so for a tenant it
  owns, named by ``tenant``;
* an agent user reads only the events of its own host (``host`` defaults to it).

A report is not recorded in the audit log when it is accepted: it changes nothing romanad
stores, and a flood of drops would drown the log's changes. A refused one is recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from romana.api import audit, ownership
from romana.api.context import Caller, Context, Ctx
from romana.api.routes import ERRORS, hostview
from romana.core.errors import NotFound
from romana.core.identifiers import HostName
from romana.core.policy import ids
from romana.services import auth, drops, policy
from romana.wire import rest, rest_drops

SERVICE = hostview.SERVICE
router = APIRouter(prefix=rest.PREFIX, tags=["drops"], responses=ERRORS)

_SCOPED = (auth.Scope.OWN_TENANT, auth.Scope.OWNED)


@router.post("/hosts/{name}/drops", response_model=rest_drops.DropReport)
def report_drops(
    name: str, body: rest_drops.DropReportIn, ctx: Ctx, caller: Caller, request: Request
) -> dict[str, Any]:
    """Keep a batch of the drops the host's firewall logged (404 for a host the topology
    does not hold)."""
    auth.authorize(caller, auth.Action.REPORT_DROPS, auth.Target(host=name))
    ctx.topology.view().topology.host(HostName(name))
    accepted = ctx.drops.ingest(name, [e.model_dump() for e in body.events])
    request.scope[audit.AUDITED] = True
    return {"accepted": accepted}


@router.get("/drops", response_model=rest_drops.DropEvents)
async def list_drops(
    ctx: Ctx,
    caller: Caller,
    after: Annotated[int, Query(ge=0)] = 0,
    wait: Annotated[float, Query(ge=0)] = 0.0,
    host: Annotated[str | None, Query(max_length=253)] = None,
    tenant: Annotated[str | None, Query(max_length=253)] = None,
) -> dict[str, Any]:
    """The drop events after ``after`` the caller may read, oldest first, filtered by host
    and tenant; when there are none, waits up to ``wait`` seconds (at most the server's
    limit) for the first. ``last`` is the next call's ``after``."""
    scope = auth.scope_of(caller, auth.Action.READ)
    if scope is auth.Scope.OWN_TENANT and tenant is None:
        tenant = caller.tenant
    if scope is auth.Scope.OWN_HOST and host is None:
        host = caller.host
    target = auth.Target(tenant=tenant, host=host)
    await run_in_threadpool(ownership.authorize, ctx, caller, auth.Action.READ, target)
    found, last = await ctx.drops.wait_after(
        after,
        min(wait, ctx.settings.max_wait),
        lambda event: drops.matches(event, host, tenant),
    )
    if scope in _SCOPED and tenant is not None:
        visible = _policies_visible(ctx, tenant)
        scoped = tenant
        found = await run_in_threadpool(
            lambda: [drops.seen_by_tenant(e, scoped, visible) for e in found]
        )
    return {"events": found, "last": last}


def _policies_visible(ctx: Context, tenant: str) -> Callable[[str], bool]:
    """Whether a reader of ``tenant`` may read policy ``pid``: one the tenant owns, or a
    global one applied to it (what ``GET /v1/policies`` lists for a tenant user)."""
    known: dict[str, bool] = {}

    def visible(pid: str) -> bool:
        if pid not in known:
            owner = ids.owner_of_id(pid)
            if owner is not None:
                known[pid] = owner == tenant
            else:
                try:
                    known[pid] = tenant in policy.tenants_of(ctx.policies.get(pid))
                except NotFound:
                    known[pid] = False
        return known[pid]

    return visible
