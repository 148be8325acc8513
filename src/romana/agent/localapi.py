"""The local API the CNI plugin (and other runtime plugins) call on the agent's Unix socket.

The contract (shapes, statuses, readiness slugs) is the module docstring of
``romana.integrations.cni.agentapi``, whose socket client the plugin uses when it runs as its
own process; the functional tests hold the two sides together over the socket. Routes::

    POST   /v1/endpoints                           ADD    → 200 Endpoint
    GET    /v1/endpoints                           list   → 200 [Endpoint]
    GET    /v1/endpoints/{container_id}/{ifname}   CHECK  → 200 Endpoint + "problems"
    DELETE /v1/endpoints/{container_id}/{ifname}   DEL    → 200 {"released": bool}
    GET    /v1/status?tenant=&segment=             STATUS → 200 {"ready": true} or 503
    POST   /v1/gc                                  GC     → 200 {"released": [..], "errors": [..]}
    GET    /v1/state                               what the agent holds and what it could not do
    GET    /v1/drops?after=SEQ&wait=SECONDS        the drop events after SEQ → 200 {"events": [..]}
    GET    /healthz                                the process is alive → 200

This module is the HTTP mapping and nothing more: a JSON body is parsed by the one wire
schema (:mod:`romana.core.endpointwire`, every problem reported at once, nothing changed by a
request that fails), the :class:`~romana.core.endpoint.EndpointPort` is called, and its
answer is written back as JSON by the same schema. The CNI plugin hosted in the agent calls
the port directly (:mod:`romana.agent.cnihost`). Who may call at all is
:mod:`romana.agent.http`'s business (peer credentials). ``/v1/drops`` answers from
:class:`romana.agent.drops.Drops` (503 ``drops-not-followed`` when the agent reads no drop
log); with ``wait`` it holds the request until an event comes or the wait ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

from romana.agent import drops as drops_mod
from romana.agent import http
from romana.core import endpointwire, errors
from romana.core.endpoint import Endpoint, EndpointPort

N = TypeVar("N", int, float)


class Service(EndpointPort, Protocol):
    """What the local API needs from the agent: the port, and two views for operators
    (implemented by :class:`romana.agent.endpoints.Endpoints`)."""

    async def list(self) -> list[Endpoint]: ...

    async def state(self) -> dict[str, Any]: ...


class LocalApi:
    """Routes a parsed request to the service; the handler given to :class:`http.Server`."""

    def __init__(self, service: Service, drops: drops_mod.Drops | None = None) -> None:
        self._service = service
        self._drops = drops

    async def __call__(self, request: http.Request) -> http.Response:
        seg = request.segments
        method = request.method
        if seg == ("healthz",) and method == "GET":
            return http.Response(200, {"status": "ok"})
        if seg[:2] == ("v1", "endpoints"):
            if len(seg) == 2:
                if method == "POST":
                    add = endpointwire.parse_request(request.json())
                    return _endpoint(await self._service.add(add))
                if method == "GET":
                    listed = await self._service.list()
                    return http.Response(200, [endpointwire.endpoint_to_wire(e) for e in listed])
                return _not_allowed(method, request.path, "GET, POST")
            if len(seg) == 4:
                if method == "DELETE":
                    released = await self._service.delete(*seg[2:])
                    return http.Response(200, {"released": released})
                if method == "GET":
                    return _endpoint(await self._service.check(*seg[2:]))
                return _not_allowed(method, request.path, "GET, DELETE")
        if seg == ("v1", "status"):
            if method != "GET":
                return _not_allowed(method, request.path, "GET")
            tenant = request.query.get("tenant") or None
            segment = request.query.get("segment") or None
            ready = await self._service.status(tenant, segment)
            if ready.ready:
                return http.Response(200, {"ready": True})
            return http.Response(503, http.problem_body(503, ready.slug, ready.detail))
        if seg == ("v1", "state"):
            if method != "GET":
                return _not_allowed(method, request.path, "GET")
            return http.Response(200, await self._service.state())
        if seg == ("v1", "drops"):
            if method != "GET":
                return _not_allowed(method, request.path, "GET")
            return await self._drop_events(request.query)
        if seg == ("v1", "gc"):
            if method != "POST":
                return _not_allowed(method, request.path, "POST")
            answer = await self._service.gc(endpointwire.parse_gc(request.json()))
            return http.Response(200, endpointwire.gc_answer_to_wire(answer))
        raise errors.NotFound(f"no route {method} {request.path}")

    async def _drop_events(self, query: Mapping[str, str]) -> http.Response:
        if self._drops is None:
            detail = "this agent does not read the drop log"
            return http.Response(503, http.problem_body(503, "drops-not-followed", detail))
        after = _number(query, "after", int, 0)
        wait = _number(query, "wait", float, 0.0)
        events = await self._drops.wait_after(after, wait)
        return http.Response(200, {"events": [e.to_dict() for e in events]})


def _number(query: Mapping[str, str], name: str, kind: type[N], default: N) -> N:
    text = query.get(name)
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise errors.InvalidInput([errors.Issue(name, "must be a number")]) from None
    if value < 0:
        raise errors.InvalidInput([errors.Issue(name, "must not be negative")])
    return value


def _endpoint(answer: Endpoint) -> http.Response:
    return http.Response(200, endpointwire.endpoint_to_wire(answer))


def _not_allowed(method: str, path: str, allowed: str) -> http.Response:
    detail = f"{method} is not allowed on {path}; use {allowed}"
    body = http.problem_body(405, "method-not-allowed", detail)
    return http.Response(405, body, {"Allow": allowed})
