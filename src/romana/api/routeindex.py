"""Finding the route of a request among romanad's routes without trying each in turn.

Starlette, and FastAPI after it, find a request's route by asking every route in order whether
it matches; romanad serves about a hundred, so a request for one of the later ones paid for
dozens of regular-expression matches, twice when :mod:`romana.api.limits` looked it up as
well. :class:`RouteIndex` files each route under the first two segments of its path
(``/v1/allocations/{key}`` under ``v1/allocations``) and asks only the routes filed under the
request's own first two segments.

Invariants:

* The answer is the one the in-order search gives: the first route, in the order given,
  that matches fully, else the first that matches partly (the path but not the method: the
  405), else none. A route could match a path outside its file only if one of those two
  segments were a parameter, or if it were not a plain route (a mount matches whole
  subtrees); such a route is filed under every key, in its place in the order.
* Each candidate is still asked with its own ``matches``: the index only skips routes that
  cannot match.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette._utils import get_route_path
from starlette.datastructures import URLPath
from starlette.routing import BaseRoute, Match, NoMatchFound, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send

SELECTED = "romana.route"
"""Scope key under which :class:`IndexedRoutes` leaves the route it matched."""

_Key = tuple[str, ...]


def _key(path: str) -> _Key:
    """The first two segments of ``path`` (fewer when it has fewer)."""
    return tuple(path.split("/", 3)[1:3])


def _filed_under(route: BaseRoute) -> _Key | None:
    """The key of every path ``route`` can match; None when it can match under several."""
    if not isinstance(route, Route | WebSocketRoute):
        return None
    key = _key(route.path)
    return None if any("{" in part for part in key) else key


class RouteIndex:
    """``routes``, in their order, looked up by the first two segments of a request's path."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self.routes = list(routes)
        keys = [_filed_under(route) for route in self.routes]
        anywhere = [route for route, key in zip(self.routes, keys, strict=True) if key is None]
        self._anywhere = anywhere
        self._filed: dict[_Key, list[BaseRoute]] = {
            key: [r for r, k in zip(self.routes, keys, strict=True) if k is None or k == key]
            for key in {k for k in keys if k is not None}
        }

    def match(self, scope: Scope) -> tuple[Match, Scope, BaseRoute | None]:
        """The route for the request of ``scope``, as the in-order search finds it, with how
        it matched and the scope it adds."""
        partial: tuple[Scope, BaseRoute] | None = None
        for route in self._filed.get(_key(get_route_path(scope)), self._anywhere):
            match, child = route.matches(scope)
            if match is Match.FULL:
                return match, child, route
            if match is Match.PARTIAL and partial is None:
                partial = (child, route)
        if partial is not None:
            return Match.PARTIAL, partial[0], partial[1]
        return Match.NONE, {}, None


class IndexedRoutes(BaseRoute):
    """All of an app's routes as one route whose matching uses a :class:`RouteIndex`: the
    router it is given to asks it alone, and it hands the request to the route it found."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self.index = RouteIndex(routes)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child, route = self.index.match(scope)
        if route is None:
            return Match.NONE, {}
        return match, {**child, SELECTED: route}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        route: BaseRoute = scope[SELECTED]
        await route.handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        for route in self.index.routes:
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound:
                continue
        raise NoMatchFound(name, path_params)
