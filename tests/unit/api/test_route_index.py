"""romanad finds every request's route through an index, and finds the route that trying each
route in order finds: the same handler, the same 405 for a path served with other methods, the
same 404 for a path nobody serves."""

from __future__ import annotations

import re

import pytest
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

from romana.api import routeindex
from romana.api.app import ROUTERS, create_app
from romana.api.settings import RomanadSettings
from romana.store.memory import MemoryStore

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _routes(services: tuple[str, ...]) -> list[BaseRoute]:
    app = create_app(RomanadSettings(store="memory://", services=services), MemoryStore())
    routes: list[BaseRoute] = app.state.routes
    return routes


def _in_order(routes: list[BaseRoute], scope: Scope) -> tuple[Match, BaseRoute | None]:
    """The route Starlette's router picks: the first full match, else the first partial one."""
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return match, route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return (Match.PARTIAL, partial) if partial is not None else (Match.NONE, None)


def _paths(routes: list[BaseRoute]) -> set[str]:
    """A request path for every route (parameters filled in), each also with a trailing
    slash and one segment more, and paths no route serves."""
    paths = {"/", "/v1", "/v1/", "/v2/tenants", "/v1/no-such-thing", "/healthz/x"}
    for route in routes:
        if isinstance(route, Route):
            path = re.sub(r"{[^}]*}", "p-1", route.path)
            paths |= {path, path + "/", path + "/extra"}
    return paths


@pytest.mark.parametrize("services", [tuple(ROUTERS), ("ipam",), ("root",)], ids=str)
def test_the_index_finds_the_route_the_in_order_search_finds(services: tuple[str, ...]) -> None:
    routes = _routes(services)
    index = routeindex.RouteIndex(routes)
    for path in sorted(_paths(routes)):
        for method in METHODS:
            scope: Scope = {"type": "http", "method": method, "path": path, "root_path": ""}
            match, _, route = index.match(scope)
            assert (match, route) == _in_order(routes, scope), f"{method} {path}"
