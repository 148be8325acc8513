"""Service ``root``: the directory of service instances (docs/api.md, Health and discovery).

Listing is public. Registering and deregistering take an admin or romanad's own ``internal``
identity: clients send their calls, tokens included, to whatever is registered, so a user who
could register could collect them (docs/security.md).
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from romana.api.context import Caller, Ctx
from romana.api.routes import ERRORS
from romana.services import auth
from romana.wire import rest

SERVICE = "root"
router = APIRouter(prefix=rest.PREFIX, tags=["root"], responses=ERRORS)


@router.get("/services", response_model=list[rest.Registration])
def list_services(ctx: Ctx) -> list[dict[str, object]]:
    """Live registrations (public: this is how clients find everything else)."""
    return [r.to_dict() for r in ctx.instances.list_live()]


@router.put("/services/{name}/{instance}", response_model=rest.Registration)
def register(
    name: str, instance: str, body: rest.RegistrationIn, ctx: Ctx, caller: Caller
) -> dict[str, object]:
    """Register or heartbeat one instance of a service (admin, or romanad's own identity)."""
    auth.authorize(caller, auth.Action.REGISTER_SERVICE)
    reg = ctx.instances.register(name, instance, body.url, body.capabilities, body.ttl)
    return reg.to_dict()


@router.delete("/services/{name}/{instance}", status_code=204, response_class=Response)
def deregister(name: str, instance: str, ctx: Ctx, caller: Caller) -> Response:
    auth.authorize(caller, auth.Action.REGISTER_SERVICE)
    ctx.instances.deregister(name, instance)
    return Response(status_code=204)
