"""Service ``route``: the routes a host programs towards every other host's prefix."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from romana.api.context import Caller, Ctx
from romana.api.routes import ERRORS
from romana.core.identifiers import HostName
from romana.services import auth, hostview
from romana.wire import rest, rest_hostview

SERVICE = "route"
router = APIRouter(prefix=rest.PREFIX, tags=["route"], responses=ERRORS)


@router.get("/hosts/{name}/routes", response_model=rest_hostview.RoutePlan)
def host_routes(name: str, ctx: Ctx, caller: Caller, aggregate: bool = True) -> dict[str, Any]:
    """The host's prefixes and gateways, and one route per other host or aggregated group."""
    auth.authorize(caller, auth.Action.READ, auth.Target(host=name))
    return hostview.route_document(ctx.topology.route_plan(HostName(name), aggregate=aggregate))
