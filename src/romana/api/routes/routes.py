"""Service ``route``: the routes a host programs towards every other host's prefix, and what
each host's agent reports about its routing (:mod:`romana.services.routing`).

A report is stored by the host's own agent (action ``report-routing``: an agent only for the
host it is bound to) and read by whoever may read the host (``read``: an agent its own
host's); the list of every host's reports is a read of no one host: admin and service.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from romana.api.context import Caller, Ctx
from romana.api.routes import ERRORS
from romana.core.identifiers import HostName
from romana.services import auth, hostview
from romana.wire import rest, rest_hostview, rest_routing

SERVICE = "route"
router = APIRouter(prefix=rest.PREFIX, tags=["route"], responses=ERRORS)


@router.get("/hosts/{name}/routes", response_model=rest_hostview.RoutePlan)
def host_routes(name: str, ctx: Ctx, caller: Caller, aggregate: bool = True) -> dict[str, Any]:
    """The host's prefixes and gateways, and one route per other host or aggregated group."""
    auth.authorize(caller, auth.Action.READ, auth.Target(host=name))
    placed = ctx.hostview.placements(name)
    plan = ctx.topology.route_plan(HostName(name), aggregate=aggregate, placed=placed)
    return hostview.route_document(plan)


@router.put("/hosts/{name}/routing", response_model=rest_routing.RoutingReport)
def report_routing(
    name: str, body: rest_routing.RoutingReportIn, ctx: Ctx, caller: Caller
) -> dict[str, Any]:
    """Store the host's routing report, replacing the one before (404 for a host the
    topology does not hold)."""
    auth.authorize(caller, auth.Action.REPORT_ROUTING, auth.Target(host=name))
    return ctx.routing.report(name, body.model_dump())


@router.get("/hosts/{name}/routing", response_model=rest_routing.RoutingReport)
def host_routing(name: str, ctx: Ctx, caller: Caller) -> dict[str, Any]:
    """The host's latest routing report and its age (404 when it sent none)."""
    auth.authorize(caller, auth.Action.READ, auth.Target(host=name))
    return ctx.routing.get(name)


@router.get("/routing", response_model=list[rest_routing.RoutingReport])
def list_routing(ctx: Ctx, caller: Caller) -> list[dict[str, Any]]:
    """The latest routing report of every host that sent one, by host name."""
    auth.authorize(caller, auth.Action.READ)
    return ctx.routing.list()
