"""Service ``agent-view``: one document with everything a host's agent needs; long poll.

The long poll is the one ``async`` handler: it waits on the process's shared watch
(:mod:`romana.api.storewatch`) and holds no thread while waiting; the view itself is read,
checked against its model and rendered to JSON in the thread pool: for a large view checking
and rendering take longer than reading, and on the event loop they would hold up every other
request while a change wakes every agent at once.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from romana.api.context import Caller, Ctx
from romana.api.routes import ERRORS
from romana.core.store import Event
from romana.services import auth
from romana.wire import rest, rest_hostview

SERVICE = "agent-view"
router = APIRouter(prefix=rest.PREFIX, tags=["agent-view"], responses=ERRORS)


def _rendered(ctx: Ctx, name: str) -> Response:
    """The host's view as FastAPI answers with the route's model (checked against it, then
    its JSON), in the calling thread."""
    view = rest_hostview.HostView.model_validate(ctx.hostview.view(name))
    return Response(view.model_dump_json(by_alias=True), media_type="application/json")


@router.get("/hosts/{name}/view", response_model=rest_hostview.HostView)
async def host_view(
    name: str,
    ctx: Ctx,
    caller: Caller,
    after: Annotated[int | None, Query(ge=0)] = None,
    wait: Annotated[float, Query(ge=0)] = 30.0,
) -> Response:
    """The host's view at one store revision.

    With ``after``, returns once something relevant to this host changed after that revision,
    or after ``wait`` seconds (at most the server's limit, 60 by default), whichever is first.
    """
    auth.authorize(caller, auth.Action.READ, auth.Target(host=name))
    if after is not None:
        scope = await run_in_threadpool(ctx.hostview.scope, name, after)

        def relevant(event: Event) -> bool:
            return ctx.hostview.relevant(scope, event)

        changed = await ctx.changes.wait(after, relevant, min(wait, ctx.settings.max_wait))
        if changed and ctx.settings.view_settle > 0:
            # Changes come in bursts, and the one that woke us is still being answered to
            # whoever made it: let both pass, then send one view for all of them.
            await asyncio.sleep(ctx.settings.view_settle)
    return await run_in_threadpool(_rendered, ctx, name)
