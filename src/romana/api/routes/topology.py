"""Service ``topology``: the topology document, networks and hosts (docs/api.md, Topology)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request

from romana.api import audit
from romana.api.context import Caller, Ctx
from romana.api.routes import ERRORS
from romana.core.errors import NotFound
from romana.core.identifiers import HostName, NetworkName
from romana.services import auth
from romana.wire import rest

SERVICE = "topology"
router = APIRouter(prefix=rest.PREFIX, tags=["topology"], responses=ERRORS)

Document = dict[str, Any]


@router.get("/topology", response_model=Document)
def get_topology(ctx: Ctx, caller: Caller) -> Document:
    """The topology in our document form; PUT it back unchanged to re-apply it."""
    auth.authorize(caller, auth.Action.READ_TOPOLOGY)
    return ctx.topology.document()


@router.put("/topology", response_model=Document)
def put_topology(
    ctx: Ctx,
    caller: Caller,
    document: Document = Body(...),  # noqa: B008
) -> Document:
    """Replace the topology with a document (ours or Romana v2's)."""
    auth.authorize(caller, auth.Action.WRITE)
    return ctx.topology.apply(document)


@router.get("/topology/tree", response_model=Document)
def get_tree(ctx: Ctx, caller: Caller) -> Document:
    auth.authorize(caller, auth.Action.READ)
    return ctx.topology.tree()


@router.get("/networks", response_model=list[rest.Network])
def list_networks(ctx: Ctx, caller: Caller) -> list[Document]:
    auth.authorize(caller, auth.Action.READ)
    return ctx.topology.networks()


@router.put("/networks/{name}/blackouts", response_model=rest.Network)
def put_blackouts(name: str, body: rest.BlackoutsIn, ctx: Ctx, caller: Caller) -> Document:
    """Replace the network's blackout ranges (addresses never handed out).

    409 when a range not blacked out before holds an allocated address; the detail names it."""
    auth.authorize(caller, auth.Action.WRITE)
    ctx.ipam.set_blackouts(NetworkName(name), body.cidrs)
    return _network(ctx, name)


@router.post("/networks/{name}/blackouts", response_model=rest.Network)
def add_blackouts(name: str, body: rest.BlackoutsIn, ctx: Ctx, caller: Caller) -> Document:
    """Add blackout ranges, keeping the others; a range already there is left as it is.

    409 when a new range holds an allocated address; the detail names it. Nothing is added."""
    auth.authorize(caller, auth.Action.WRITE)
    ctx.ipam.add_blackouts(NetworkName(name), body.cidrs)
    return _network(ctx, name)


@router.post("/networks/{name}/blackouts/remove", response_model=rest.Network)
def remove_blackouts(
    name: str, body: rest.BlackoutsIn, ctx: Ctx, caller: Caller, request: Request
) -> Document:
    """Remove blackout ranges, keeping the others.

    404 naming each range that is not a blackout of the network; nothing is removed then."""
    auth.authorize(caller, auth.Action.WRITE)
    ctx.ipam.remove_blackouts(NetworkName(name), body.cidrs)
    audit.name_object(request, f"networks/{name}/blackouts")
    return _network(ctx, name)


def _network(ctx: Ctx, name: str) -> Document:
    for net in ctx.topology.networks():
        if net["name"] == name:
            return net
    raise NotFound(f"network {name!r} does not exist")


@router.get("/hosts", response_model=list[rest.Host])
def list_hosts(ctx: Ctx, caller: Caller) -> list[Document]:
    auth.authorize(caller, auth.Action.READ)
    return ctx.topology.list_hosts()


@router.post("/hosts", response_model=rest.Host, status_code=201)
def add_host(body: rest.HostIn, ctx: Ctx, caller: Caller, request: Request) -> Document:
    """Place a host in the first group whose assignment its labels satisfy; ``ip6`` is its
    IPv6 underlay address beside an IPv4 ``ip`` (the next hop of its IPv6 networks).

    An agent registers only the host its user is bound to (403 for any other name)."""
    auth.authorize(caller, auth.Action.REGISTER_HOST, auth.Target(host=body.name))
    host = ctx.topology.add_host(HostName(body.name), body.ip, body.labels, body.ip6)
    audit.name_object(request, f"hosts/{body.name}")
    return host


@router.get("/hosts/{name}", response_model=rest.Host)
def get_host(name: str, ctx: Ctx, caller: Caller) -> Document:
    auth.authorize(caller, auth.Action.READ, auth.Target(host=name))
    return ctx.topology.get_host(HostName(name))


@router.patch("/hosts/{name}", response_model=rest.Host)
def update_labels(name: str, body: rest.LabelsIn, ctx: Ctx, caller: Caller) -> Document:
    """Replace the host's labels; an agent relabels only its own host (403 for another)."""
    auth.authorize(caller, auth.Action.REGISTER_HOST, auth.Target(host=name))
    return ctx.topology.update_labels(HostName(name), body.labels)


@router.delete("/hosts/{name}", response_model=rest.Host)
def remove_host(name: str, ctx: Ctx, caller: Caller) -> Document:
    auth.authorize(caller, auth.Action.WRITE)
    return ctx.topology.remove_host(HostName(name))
