"""Service ``auth``: tokens and users (docs/api.md, Auth)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from romana.api import schemas
from romana.api.context import Caller, Ctx
from romana.api.routes import ERRORS
from romana.services import auth

SERVICE = "auth"
router = APIRouter(tags=["auth"], responses=ERRORS)


@router.post("/v1/auth/token", response_model=schemas.TokenOut)
def token(body: schemas.Credentials, ctx: Ctx) -> dict[str, object]:
    """Exchange a username and password for a signed token (public)."""
    return ctx.auth.login(body.username, body.password).to_dict()


@router.get("/v1/users", response_model=list[schemas.User])
def list_users(ctx: Ctx, caller: Caller) -> list[dict[str, object]]:
    auth.authorize(caller, auth.Action.MANAGE_USERS)
    return [u.to_dict() for u in ctx.auth.list_users()]


@router.post("/v1/users", response_model=schemas.User, status_code=201)
def create_user(body: schemas.UserIn, ctx: Ctx, caller: Caller) -> dict[str, object]:
    auth.authorize(caller, auth.Action.MANAGE_USERS)
    return ctx.auth.create_user(body.username, body.password, body.role, body.tenant).to_dict()


@router.delete("/v1/users/{username}", status_code=204, response_class=Response)
def delete_user(username: str, ctx: Ctx, caller: Caller) -> Response:
    auth.authorize(caller, auth.Action.MANAGE_USERS)
    ctx.auth.delete_user(username)
    return Response(status_code=204)
