"""The app factory: one FastAPI app serving the services this process runs.

Every service's router is built; only the served ones are mounted. A request for a path of a
service that is not served here gets a 404 problem naming the service and where to find an
instance of it (the root's ``/v1/services``). ``GET /healthz`` (liveness) and ``GET /readyz``
(the store reads and writes) are always served, and a process running ``root`` serves the
password-carrying endpoints of ``auth`` (``routes.auth.credentials``) even without ``auth``.

While the app runs, two background tasks live in its lifespan: the heartbeat that keeps the
services registered with the root, and (when ``agent-view`` is served) the shared store watch
that wakes long-polling agents. Both retry store and network failures themselves, so either
ending is a bug: it is logged, ``app.state.failed`` is set and the process stops itself
(crash-only; ``romanad`` then exits non-zero and its supervisor restarts it).

Every request passes :class:`romana.api.audit.Audit` (which records logins, refusals and
changes, one JSON line each), then :class:`romana.api.limits.BodyLimits`: a body is read only
after its caller is authenticated, and only up to the configured size and pace. Every answer
carries :data:`romana.api.headers.HEADERS` (not cached, not sniffed).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable, MutableMapping
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match, Route

import romana
from romana.api import audit, context, errors, headers, limits, routeindex
from romana.api.registration import Heartbeat
from romana.api.routes import auth as auth_routes
from romana.api.routes import (
    dockerpools,
    drops,
    external,
    hostview,
    ipam,
    kubernetes,
    policy,
    root,
    routes,
    tenants,
    topology,
    vips,
)
from romana.api.settings import RomanadSettings
from romana.api.ui import web as ui
from romana.core.store import Store
from romana.services.readiness import Readiness
from romana.wire import rest

log = logging.getLogger(__name__)

ROUTERS: dict[str, APIRouter] = {
    m.SERVICE: m.router
    for m in (root, auth_routes, tenants, topology, ipam, policy, routes, hostview)
}
# A service's routes are one router's: registration and the "served elsewhere" hint list
# them route by route, which FastAPI's include_router would hide behind one route.
ROUTERS[kubernetes.SERVICE].routes.extend(kubernetes.router.routes)
ROUTERS[dockerpools.SERVICE].routes.extend(dockerpools.router.routes)
ROUTERS[external.SERVICE].routes.extend(external.router.routes)
ROUTERS[vips.SERVICE].routes.extend(vips.router.routes)
ROUTERS[drops.SERVICE].routes.extend(drops.router.routes)


def capabilities(router: APIRouter) -> list[str]:
    """``METHOD /path`` of every operation of a service, as registered with the root."""
    return sorted(
        f"{method} {route.path}"
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    )


def _elsewhere(
    ctx: context.Context, unserved: list[tuple[str, APIRoute]]
) -> Callable[[MutableMapping[str, Any]], str | None]:
    def hint(scope: MutableMapping[str, Any]) -> str | None:
        for service, route in unserved:
            match, _ = route.matches(scope)
            if match is not Match.NONE:
                return (
                    f"this romanad does not run the {service!r} service; find an instance "
                    f"with GET {ctx.root_url}/v1/services"
                )
        return None

    return hint


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The OpenAPI document, with error responses typed as problem JSON."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, routes=app.state.routes)
            for path in doc.get("paths", {}).values():
                for op in path.values():
                    for status, response in op.get("responses", {}).items():
                        content = response.get("content", {})
                        if (
                            status.isdigit()
                            and int(status) >= 400
                            and "application/json" in content
                        ):
                            content[errors.PROBLEM_TYPE] = content.pop("application/json")
            app.openapi_schema = doc
        return app.openapi_schema

    return build


def create_app(settings: RomanadSettings, store: Store) -> FastAPI:
    """The app for ``settings.services`` over ``store``; background tasks run in its lifespan."""
    ctx = context.build(settings, store)
    heartbeat = Heartbeat(ctx, {name: capabilities(r) for name, r in ROUTERS.items()})

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(heartbeat.run(), name="heartbeat")]
        if "agent-view" in ctx.served:
            tasks.append(asyncio.create_task(ctx.changes.run(), name="store-watch"))
        for task in tasks:
            task.add_done_callback(functools.partial(_report, app))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await heartbeat.stop()
            # The store closes after the app: no call offloaded to the pool may still use it.
            await asyncio.to_thread(ctx.pool.shutdown)

    app = FastAPI(
        title="romanad",
        version=romana.__version__,
        description="Romana control plane (docs/api.md).",
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.state.failed = False
    errors.install(app)

    @app.get("/healthz", response_model=rest.Health, tags=["root"])
    async def healthz() -> dict[str, object]:
        """Liveness, the services this process runs, and its store kind (on the event loop:
        no I/O, so it answers even while every worker thread is busy)."""
        return {
            "status": "ok",
            "services": [s for s in ROUTERS if s in ctx.served],
            "store": ctx.store_kind,
        }

    readiness = Readiness(store, settings.instance_name)

    @app.get("/readyz", response_model=rest.Ready, tags=["root"])
    def readyz() -> dict[str, object]:
        """Readiness: the store answers a read and takes a write; 503 naming which failed."""
        return {"status": "ready", "revision": readiness.check()}

    unserved: list[tuple[str, APIRoute]] = []
    mounted: list[BaseRoute] = []
    for name, router in ROUTERS.items():
        if name in ctx.served:
            mounted.extend(router.routes)
        else:
            unserved.extend((name, r) for r in router.routes if isinstance(r, APIRoute))
    if "root" in ctx.served and "auth" not in ctx.served:
        # Clients send passwords only to the root URLs they were configured with.
        mounted.extend(auth_routes.credentials.routes)
    if "root" in ctx.served:
        # The web view (docs/ui.md) takes passwords too, so it is served where they go.
        mounted.extend(ui.router.routes)
    # The routes themselves, not the routers: an included router is matched through a layer
    # of per-router contexts that costs every request more than the handler's own work. The
    # routers carry no include-time options (prefix, tags, dependencies), so each route is
    # complete as it is, and the OpenAPI document is the same. The app's router asks one
    # route, which finds the request's route through an index (romana.api.routeindex).
    app.state.routes = [*app.router.routes, *mounted]
    app.router.routes[:] = [routeindex.IndexedRoutes(app.state.routes)]
    app.state.elsewhere = _elsewhere(ctx, unserved)
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    app.state.endpoints = [r for r in app.state.routes if isinstance(r, Route)]
    app.add_middleware(limits.BodyLimits, settings=settings, routes=app.state.endpoints)
    app.add_middleware(headers.Hardened)  # on every answer, the refusals of limits too
    app.add_middleware(audit.Audit)  # added last: outermost, it sees every refusal
    if settings.insecure:
        log.warning(
            "AUTHENTICATION IS DISABLED (--insecure): every request acts as admin; "
            "never run like this outside a lab"
        )
    return app


def _report(app: FastAPI, task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    log.error("background task %s ended; stopping", task.get_name(), exc_info=task.exception())
    app.state.failed = True
    os.kill(os.getpid(), signal.SIGTERM)
