"""List and watch Kubernetes resources, and run per-object work in order.

:class:`KubeClient` speaks the API server's wire format over HTTP: a list answers
``{"kind": "<Kind>List", "metadata": {"resourceVersion"}, "items": [...]}``; a watch
(``?watch=1&resourceVersion=R``) streams one JSON event per line, ``{"type": ADDED |
MODIFIED | DELETED | BOOKMARK | ERROR, "object": {...}}``. An ``ERROR`` event carrying a
``Status`` with code 410, or an HTTP 410, means the resource version is too old:
:class:`Compacted`. Its one write is a Service's load-balancer status
(:meth:`KubeClient.patch_service_status`: a JSON merge patch of the ``status``
subresource, which needs ``patch`` on ``services/status``).

:func:`reflect` keeps one resource in step: list, hand the whole list over as a resync, then
watch from the list's resource version. A watch the server ends cleanly is resumed from the
last version seen; 410 Gone and any broken connection (a reconnect) start again with a list,
so nothing missed while disconnected is lost — the resync replaces what the handler knew.

An *optional* resource (a CustomResourceDefinition's, such as ClusterNetworkPolicy) may not
be served: a cluster without the CRD answers 404, and a role granting no access to it 403.
Such an answer is :class:`NotServed`, and :func:`reflect` hands the handler an empty resync
(the cluster holds none of them, as far as the listener can tell) and lists again every
:data:`ABSENT_RETRY` seconds, so the other resources are kept in step meanwhile and a CRD
installed later is picked up. That holds only until the first successful list of the
resource by this client: after one, a 404 or 403 is :class:`Unavailable` like any other
failure (a role losing access, a CRD briefly reinstalled), so the handler keeps the last
objects it was given and the list is retried. Taking it as "none" then would remove every
policy the cluster admin wrote, and a cluster admin's Deny rules with them.

:class:`Dispatcher` gives every object (kind/namespace/name) one sequential queue; objects
are handled in parallel, and the events of one object in the order they arrived. Idle
queues go away; :meth:`Dispatcher.drain` waits for every queued job.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from romana.core.errors import Compacted, Unavailable

log = logging.getLogger(__name__)

Raw = dict[str, Any]


ABSENT_RETRY = 30.0
"""Seconds between lists of an optional resource the API server does not serve."""


class NotServed(Unavailable):
    """An optional resource the API server does not serve (404) or lets us read (403), and
    never did since the client was made (see the module)."""


@dataclass(frozen=True, slots=True)
class Resource:
    kind: str
    path: str
    api_version: str = ""
    """Given to the objects that carry none (the items of a list of built-in kinds)."""
    optional: bool = False
    """Served only when a CustomResourceDefinition is installed (see the module)."""


RESOURCES = (
    Resource("Namespace", "/api/v1/namespaces"),
    Resource("Node", "/api/v1/nodes"),
    Resource("Pod", "/api/v1/pods"),
    Resource("NetworkPolicy", "/apis/networking.k8s.io/v1/networkpolicies"),
    Resource("Service", "/api/v1/services"),
    Resource(
        "ClusterNetworkPolicy",
        "/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies",
        "policy.networking.k8s.io/v1alpha2",
        optional=True,
    ),
)


def _typed(resource: Resource, obj: Mapping[str, Any]) -> Raw:
    """``obj`` with the kind and apiVersion of ``resource`` where it gives none itself."""
    version = {"apiVersion": resource.api_version} if resource.api_version else {}
    return {"kind": resource.kind, **version, **obj}


class KubeClient:
    def __init__(
        self,
        base_url: str,
        token: str = "",
        timeout: float = 10.0,
        *,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._listed: set[str] = set()
        """The paths of the resources listed successfully at least once."""
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, read=None),
            verify=verify,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def list(self, resource: Resource) -> tuple[list[Raw], str]:
        try:
            response = await self._http.get(resource.path)
        except httpx.TransportError as exc:
            raise Unavailable(f"listing {resource.path}: {exc}") from exc
        if response.status_code in (403, 404) and resource.path in self._listed:
            cause = "access denied" if response.status_code == 403 else "no longer served"
            raise Unavailable(
                f"listing {resource.path}: HTTP {response.status_code} ({cause}) after it was "
                "listed: keeping the last objects listed"
            )
        if resource.optional and response.status_code in (403, 404):
            raise NotServed(f"listing {resource.path}: HTTP {response.status_code}")
        if response.status_code != 200:
            raise Unavailable(f"listing {resource.path}: HTTP {response.status_code}")
        body = response.json()
        self._listed.add(resource.path)
        items = [_typed(resource, item) for item in body.get("items") or []]
        return items, str(body.get("metadata", {}).get("resourceVersion", ""))

    async def watch(self, resource: Resource, version: str) -> AsyncIterator[Raw]:
        params = {"watch": "1", "resourceVersion": version, "allowWatchBookmarks": "true"}
        try:
            async with self._http.stream("GET", resource.path, params=params) as response:
                if response.status_code == 410:
                    raise Compacted(f"{resource.path}: resource version {version} is gone")
                if response.status_code != 200:
                    raise Unavailable(f"watching {resource.path}: HTTP {response.status_code}")
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    obj = event.get("object") or {}
                    if event.get("type") == "ERROR":
                        if obj.get("code") == 410:
                            raise Compacted(f"{resource.path}: {obj.get('message', 'gone')}")
                        raise Unavailable(f"watching {resource.path}: {obj.get('message')}")
                    yield {"type": event.get("type"), "object": _typed(resource, obj)}
        except (httpx.TransportError, json.JSONDecodeError) as exc:
            raise Unavailable(f"watching {resource.path}: {exc}") from exc

    async def patch_service_status(self, namespace: str, name: str, ingress: Sequence[str]) -> None:
        """Make Service ``namespace/name``'s ``status.loadBalancer.ingress`` list
        ``ingress`` (one ``{"ip": ...}`` each); Unavailable when the API server refuses."""
        path = f"/api/v1/namespaces/{namespace}/services/{name}/status"
        body = {"status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ingress]}}}
        try:
            response = await self._http.patch(
                path,
                content=json.dumps(body),
                headers={"Content-Type": "application/merge-patch+json"},
            )
        except httpx.TransportError as exc:
            raise Unavailable(f"patching {path}: {exc}") from exc
        if response.status_code != 200:
            raise Unavailable(f"patching {path}: HTTP {response.status_code}")


class Handler(Protocol):
    async def resync(self, kind: str, items: list[Raw]) -> None: ...
    async def event(self, kind: str, type_: str, obj: Raw) -> None: ...


def version_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))


async def reflect(
    client: KubeClient, resource: Resource, handler: Handler, *, retry: float = 0.2
) -> None:
    """Keep ``handler`` in step with one resource until cancelled."""
    absent = False
    while True:
        try:
            try:
                items, version = await client.list(resource)
            except NotServed as exc:
                if not absent:
                    log.warning("%s: taking it as none until it is served", exc)
                    await handler.resync(resource.kind, [])
                    absent = True
                await asyncio.sleep(ABSENT_RETRY)
                continue
            absent = False
            await handler.resync(resource.kind, items)
            while True:
                async for event in client.watch(resource, version):
                    version = version_of(event["object"]) or version
                    if event["type"] != "BOOKMARK":
                        await handler.event(resource.kind, str(event["type"]), event["object"])
                log.debug("watch of %s ended; resuming from %s", resource.path, version)
        except Compacted as exc:
            log.info("%s; listing again", exc)
        except Unavailable as exc:
            log.warning("%s; reconnecting with a full resync", exc)
            await asyncio.sleep(retry)


class Dispatcher:
    """One sequential queue per key; keys run in parallel."""

    def __init__(self, idle: float = 5.0) -> None:
        self._idle = idle
        self._queues: dict[str, asyncio.Queue[Callable[[], Awaitable[None]]]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def submit(self, key: str, job: Callable[[], Awaitable[None]]) -> None:
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = asyncio.Queue()
            self._tasks[key] = asyncio.create_task(self._worker(key, queue))
        queue.put_nowait(job)

    async def _worker(self, key: str, queue: asyncio.Queue[Callable[[], Awaitable[None]]]) -> None:
        while True:
            try:
                job = await asyncio.wait_for(queue.get(), self._idle)
            except TimeoutError:
                if queue.empty():
                    del self._queues[key], self._tasks[key]
                    return
                continue
            try:
                await job()
            except Exception:
                log.exception("handling %s failed; the next resync repairs it", key)
            finally:
                queue.task_done()

    async def drain(self) -> None:
        await asyncio.gather(*(q.join() for q in list(self._queues.values())))

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in list(self._tasks.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self._queues.clear()
