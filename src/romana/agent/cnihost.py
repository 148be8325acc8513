"""The CNI plugin run inside the agent: ``POST /v1/cni`` from the compiled ``romana-cni``.

A runtime starts ``romana-cni`` for every CNI command. Started as a Python program the
plugin would spend longer getting to its first line than the whole ADD of a compiled
plugin, so ``romana-cni`` is a small C front (``integrations/cni/front/romana-cni.c``) that
forwards the invocation here and prints the answer. Here the invocation runs through the
very same code as the Python plugin (:func:`romana.integrations.cni.plugin.answer`), on the
event loop, calling this agent's :class:`~romana.core.endpoint.EndpointPort` directly: one
implementation of the CNI contract, whichever way it is reached, and no HTTP inside the agent.

Wire format (``Content-Type: application/vnd.romana.cni``):

* request body: ``NAME=VALUE\\0`` for each ``CNI_*`` variable of the plugin's environment,
  an empty entry (``\\0``) ending the list, then the configuration exactly as read on stdin;
* answer: 200 with ``Romana-Cni-Exit`` (the plugin's exit code), ``Romana-Cni-Stdout-Length``
  and a body that is the plugin's stdout followed by its stderr.

Any other answer (a malformed body gets 400) makes the front hand the invocation to the
Python plugin, so nothing a runtime sends is lost on the way.

Invariants: only ``CNI_*`` names are accepted. The plugin's own work is parsing (pure, well
under a millisecond) and a look-up in its pending directory, so it runs on the loop; the
kernel work of the port goes to the reconciler's writer thread as for every caller. The port
is seen as the socket client would see it (:class:`HostedPort`): each call bounded by the
network's ``agent_timeout``, and each failure raised as the local API's answer would make it
raise, so a CNI result does not depend on how the plugin reached the agent.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Awaitable
from typing import TypeVar

from romana.agent import http
from romana.core import endpoint, errors
from romana.core.endpoint import EndpointPort
from romana.integrations.cni import agentapi, plugin, request

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/vnd.romana.cni"
PATH = ("v1", "cni")
MAX_ENTRIES = 64
T = TypeVar("T")


def parse_invocation(body: bytes) -> tuple[dict[str, str], bytes]:
    """(environment, stdin) of a forwarded invocation; :class:`http.MalformedBody` (400)
    naming ``body``."""
    env: dict[str, str] = {}
    offset = 0
    while True:
        end = body.find(b"\0", offset)
        if end < 0:
            raise http.MalformedBody(
                [errors.Issue("body", "the environment list has no empty entry ending it")]
            )
        entry = body[offset:end]
        offset = end + 1
        if not entry:
            return env, body[offset:]
        name, sep, value = entry.partition(b"=")
        text = name.decode("ascii", "replace")
        if not sep or not text.startswith("CNI_"):
            raise http.MalformedBody(
                [errors.Issue("body", f"entry {text!r} is not a CNI_NAME=value variable")]
            )
        if len(env) >= MAX_ENTRIES:
            raise http.MalformedBody(
                [errors.Issue("body", f"more than {MAX_ENTRIES} environment entries")]
            )
        env[text] = value.decode("utf-8", "surrogateescape")


class HostedPort:
    """``port`` as the hosted plugin calls it: within ``timeout`` seconds, and failing as
    :class:`~romana.integrations.cni.agentapi.AgentPort` would for the same answer (the
    error the local API renders, read back by the client's one inverse)."""

    def __init__(self, port: EndpointPort, timeout: float) -> None:
        self._port = port
        self._timeout = timeout

    async def _call(self, call: str, work: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self._timeout):
                return await work
        except TimeoutError as exc:
            raise errors.Unavailable(
                f"romana-agent did not answer {call} within {self._timeout:g} s"
            ) from exc
        except errors.RomanaError as exc:
            answer = http.problem(exc)
        except Exception:
            log.exception("CNI: %s failed", call)
            detail = "the agent failed unexpectedly; see its log"
            answer = http.Response(500, http.problem_body(500, "internal", detail))
        fields = {name.lower(): value for name, value in answer.headers.items()}
        raise agentapi.answer_error(answer.status, answer.body, fields, call)

    async def add(self, request: endpoint.EndpointRequest) -> endpoint.Endpoint:
        return await self._call("POST /v1/endpoints", self._port.add(request))

    async def delete(self, container_id: str, ifname: str) -> bool:
        path = agentapi.endpoint_path(container_id, ifname)
        return await self._call(f"DELETE {path}", self._port.delete(container_id, ifname))

    async def check(self, container_id: str, ifname: str) -> endpoint.Endpoint:
        path = agentapi.endpoint_path(container_id, ifname)
        return await self._call(f"GET {path}", self._port.check(container_id, ifname))

    async def gc(self, request: endpoint.GcRequest) -> endpoint.GcAnswer:
        return await self._call("POST /v1/gc", self._port.gc(request))

    async def status(self, tenant: str | None, segment: str | None) -> endpoint.Readiness:
        return await self._call("GET /v1/status", self._port.status(tenant, segment))


class CniHost:
    """Serves ``POST /v1/cni`` by running the plugin against ``port``; every other request
    goes to ``api``."""

    def __init__(self, api: http.Handler, port: EndpointPort) -> None:
        self._api = api
        self._port = port

    async def __call__(self, req: http.Request) -> http.Response:
        if req.segments != PATH:
            return await self._api(req)
        if req.method != "POST":
            body = http.problem_body(405, "method-not-allowed", "use POST on /v1/cni")
            return http.Response(405, body, {"Allow": "POST"})
        env, stdin = parse_invocation(req.body)
        out, err = io.StringIO(), io.StringIO()

        def connect(settings: request.Settings) -> EndpointPort:
            return HostedPort(self._port, settings.agent_timeout)

        code = await plugin.answer(plugin.Invocation(env, stdin, out, err), connect)
        return http.Response(
            200,
            out.getvalue().encode() + err.getvalue().encode(),
            {
                "Content-Type": CONTENT_TYPE,
                "Romana-Cni-Exit": str(code),
                "Romana-Cni-Stdout-Length": str(len(out.getvalue().encode())),
            },
        )


_: type[EndpointPort] = HostedPort
