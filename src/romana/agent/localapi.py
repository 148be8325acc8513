"""The local API the CNI plugin (and other runtime plugins) call on the agent's Unix socket.

The contract (shapes, statuses, readiness slugs) is the module docstring of
``romana.integrations.cni.agentapi``. The plugin's own client of it is the one the agent uses
in-process for ``POST /v1/cni`` (:mod:`romana.agent.cnihost`), and the functional tests hold
the two sides together over the socket. Routes::

    POST   /v1/endpoints                           ADD    → 200 Endpoint
    GET    /v1/endpoints                           list   → 200 [Endpoint]
    GET    /v1/endpoints/{container_id}/{ifname}   CHECK  → 200 Endpoint + "problems"
    DELETE /v1/endpoints/{container_id}/{ifname}   DEL    → 200 {"released": bool}
    GET    /v1/status?tenant=&segment=             STATUS → 200 {"ready": true} or 503
    POST   /v1/gc                                  GC     → 200 {"released": [..], "errors": [..]}
    GET    /v1/state                               what the agent holds and what it could not do
    GET    /healthz                                the process is alive → 200

ADD body: ``{"container_id", "ifname", "netns", "network"?, "tenant", "segment"?,
"labels"?, "k8s"?, "mtu"?}``. GC body: ``{"network"?, "valid": [{"container_id",
"ifname"}]}``. The Endpoint shape is built by :mod:`romana.agent.endpoints`.

This module is the wire edge: it parses and validates every request into typed values,
reporting every problem at once, and calls :class:`~romana.agent.endpoints.Endpoints`.
Nothing is changed by a request that fails validation.

An ADD whose ``netns`` is the agent's own network namespace or the init (host) one is
refused with 422, field ``netns``, whatever path names it (``/proc/<pid>/ns/net``, a bind
mount under ``/run/netns``): the path is resolved and its namespace compared, by device and
inode, with those of ``/proc/thread-self/ns/net`` and ``/proc/1/ns/net`` as they were when the
API was made. Wiring an endpoint there would put its address and default route on the host.
A path that exists but cannot be resolved (permission denied, as ``/proc/1/ns/net`` is in
some containers) is refused the same way: it cannot be told apart from those two.
Who may call at all is :mod:`romana.agent.http`'s business (peer credentials).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from romana.agent import http, registry
from romana.core import errors, hostplan, tenancy

log = logging.getLogger(__name__)

CONTAINER_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}")
CONTAINER_ID_RULE = (
    "must be 1-200 characters of letters, digits, '_', '.', '-', starting alphanumeric"
)
IFNAME_RE = re.compile(r"[A-Za-z0-9_.@=+\-]{1,15}")
IFNAME_RULE = "must be 1-15 characters of letters, digits, '_', '.', '@', '=', '+', '-'"
ADD_FIELDS = frozenset(
    {"container_id", "ifname", "netns", "tenant", "segment", "labels", "network", "k8s", "mtu"}
)
HOST_NAMESPACES: tuple[tuple[str, str], ...] = (
    ("/proc/thread-self/ns/net", "the agent's own network namespace"),
    ("/proc/1/ns/net", "the init (host) network namespace"),
)
"""Namespaces no endpoint may be wired into: (a path naming it, what it is)."""

NamespaceId = tuple[int, int]
"""(st_dev, st_ino) of a network namespace, the same whichever path names it."""


@dataclass(frozen=True, slots=True)
class AddRequest:
    container_id: str
    ifname: str
    netns: str
    tenant: str
    segment: str = tenancy.DEFAULT_SEGMENT
    labels: Mapping[str, str] = field(default_factory=dict)
    network: str = ""
    k8s: Mapping[str, str] = field(default_factory=dict)
    mtu: int | None = None


@dataclass(frozen=True, slots=True)
class Readiness:
    """STATUS: ready, or the problem slug (not-ready, exhausted, limited-connectivity) and why."""

    ready: bool
    slug: str = ""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class GcRequest:
    network: str
    valid: frozenset[tuple[str, str]]


class Service(Protocol):
    """What the local API needs from the agent (implemented by ``agent.endpoints``)."""

    async def add(self, request: AddRequest) -> dict[str, Any]: ...

    async def delete(self, container_id: str, ifname: str) -> dict[str, Any]: ...

    async def check(self, container_id: str, ifname: str) -> dict[str, Any]: ...

    async def list(self) -> list[dict[str, Any]]: ...

    async def status(self, tenant: str | None, segment: str | None) -> Readiness: ...

    async def gc(self, request: GcRequest) -> dict[str, Any]: ...

    async def state(self) -> dict[str, Any]: ...


def describe(record: registry.EndpointRecord, spec: hostplan.EndpointSpec) -> dict[str, Any]:
    """The answer for one endpoint (ADD, CHECK, list): the ``Endpoint`` of the contract."""
    addresses = []
    for address in record.addresses:
        entry = {"address": f"{address}/{address.max_prefixlen}"}
        gateway = spec.gateway_for(address.version)
        if gateway is not None:
            entry["gateway"] = str(gateway)
        addresses.append(entry)
    routes = [
        {"dst": "0.0.0.0/0" if gw.version == 4 else "::/0", "gw": str(gw)} for gw in spec.gateways
    ]
    return {
        "container_id": record.container_id,
        "ifname": record.ifname,
        "netns": record.netns,
        "network": record.network,
        "tenant": record.tenant,
        "segment": record.segment,
        "addresses": addresses,
        "interface": {
            "name": record.ifname,
            "mac": record.mac,
            "mtu": spec.mtu,
            "sandbox": record.netns,
        },
        "host_interface": {"name": spec.host_ifname, "mac": record.host_mac},
        "routes": routes,
        "mtu": spec.mtu,
    }


def _string(raw: Mapping[str, Any], key: str, issues: errors.Issues, *, required: bool) -> str:
    value = raw.get(key)
    if value is None or value == "":
        if required:
            issues.add(key, "is required")
        return ""
    if not isinstance(value, str):
        issues.add(key, f"must be a string, not {type(value).__name__}")
        return ""
    return value


def _string_map(raw: Mapping[str, Any], key: str, issues: errors.Issues) -> dict[str, str]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        issues.add(key, "must be an object of string values")
        return {}
    bad = sorted(str(k) for k, v in value.items() if not isinstance(v, str))
    for name in bad:
        issues.add(f"{key}.{name}", "must be a string")
    return {str(k): v for k, v in value.items() if isinstance(v, str)}


def check_identity(container_id: str, ifname: str, issues: errors.Issues) -> None:
    """Add the problems of one (container_id, ifname) pair to ``issues``."""
    if not CONTAINER_ID_RE.fullmatch(container_id):
        issues.add("container_id", CONTAINER_ID_RULE)
    if not IFNAME_RE.fullmatch(ifname) or ifname in (".", ".."):
        issues.add("ifname", IFNAME_RULE)


def parse_add(body: Any) -> AddRequest:
    """An ADD body → :class:`AddRequest`; InvalidInput listing every problem."""
    if not isinstance(body, Mapping):
        raise errors.InvalidInput([errors.Issue("body", "must be a JSON object")])
    issues = errors.Issues()
    for key in sorted(set(body) - ADD_FIELDS):
        issues.add(str(key), "is not a known field")
    container_id = _string(body, "container_id", issues, required=True)
    ifname = _string(body, "ifname", issues, required=True)
    if container_id and ifname:
        check_identity(container_id, ifname, issues)
    elif container_id:
        check_identity(container_id, "x", issues)
    elif ifname:
        check_identity("x", ifname, issues)
    netns = _string(body, "netns", issues, required=True)
    if netns and not netns.startswith("/"):
        issues.add("netns", "must be an absolute path to a network namespace")
    tenant = _string(body, "tenant", issues, required=True)
    if tenant:
        tenancy.check_name(tenant, "tenant", issues)
    segment = _string(body, "segment", issues, required=False) or tenancy.DEFAULT_SEGMENT
    tenancy.check_name(segment, "segment", issues)
    network = _string(body, "network", issues, required=False)
    labels = _string_map(body, "labels", issues)
    k8s = _string_map(body, "k8s", issues)
    mtu = body.get("mtu")
    if mtu is not None and (
        not isinstance(mtu, int)
        or isinstance(mtu, bool)
        or not hostplan.MIN_MTU <= mtu <= hostplan.MAX_MTU
    ):
        issues.add("mtu", f"must be an integer {hostplan.MIN_MTU}..{hostplan.MAX_MTU}")
    issues.raise_if_any()
    return AddRequest(container_id, ifname, netns, tenant, segment, labels, network, k8s, mtu)


def parse_gc(body: Any) -> GcRequest:
    """A GC body → the network and the set of valid (container_id, ifname) pairs."""
    if not isinstance(body, Mapping):
        raise errors.InvalidInput([errors.Issue("body", "must be a JSON object")])
    issues = errors.Issues()
    for key in sorted(set(body) - {"valid", "network"}):
        issues.add(str(key), "is not a known field")
    network = _string(body, "network", issues, required=False)
    raw = body.get("valid")
    if not isinstance(raw, list):
        issues.add("valid", "is required: a list of {container_id, ifname}")
        issues.raise_if_any()
    valid: set[tuple[str, str]] = set()
    for i, item in enumerate(raw if isinstance(raw, list) else []):
        cid = item.get("container_id") if isinstance(item, Mapping) else None
        ifname = item.get("ifname") if isinstance(item, Mapping) else None
        if not isinstance(cid, str):
            issues.add(f"valid[{i}].container_id", "is required, a string")
        if not isinstance(ifname, str):
            issues.add(f"valid[{i}].ifname", "is required, a string")
        if isinstance(cid, str) and isinstance(ifname, str):
            valid.add((cid, ifname))
    issues.raise_if_any()
    return GcRequest(network, frozenset(valid))


def namespace_ids(named: Sequence[tuple[str, str]] = HOST_NAMESPACES) -> dict[NamespaceId, str]:
    """The namespaces of ``named`` paths → what they are; a path that cannot be read is left out
    (``/proc/1/ns/net`` needs root)."""
    ids: dict[NamespaceId, str] = {}
    for path, what in named:
        try:
            st = os.stat(path)
        except OSError as exc:
            log.warning("cannot resolve %s (%s): %s", path, what, exc.strerror or exc)
            continue
        key = (st.st_dev, st.st_ino)
        ids[key] = f"{ids[key]} and {what}" if key in ids else what
    return ids


def check_netns(netns: str, refused: Mapping[NamespaceId, str]) -> None:
    """InvalidInput naming ``netns`` when the path resolves to one of the ``refused``
    namespaces, or exists but cannot be resolved (it cannot be told apart from them); a
    path that does not exist is left to the ADD (404)."""
    try:
        st = os.stat(netns)
    except (FileNotFoundError, NotADirectoryError):
        return
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise errors.InvalidInput(
            [errors.Issue("netns", f"{netns} cannot be resolved to a network namespace: {why}")]
        ) from exc
    what = refused.get((st.st_dev, st.st_ino))
    if what:
        raise errors.InvalidInput(
            [
                errors.Issue(
                    "netns",
                    f"{netns} is {what}; an endpoint needs a network namespace of its own",
                )
            ]
        )


def _identity(container_id: str, ifname: str) -> tuple[str, str]:
    issues = errors.Issues()
    check_identity(container_id, ifname, issues)
    issues.raise_if_any()
    return container_id, ifname


class LocalApi:
    """Routes a parsed request to the service; the handler given to :class:`http.Server`.

    ``refused_netns``: the namespaces no ADD may use; by default :data:`HOST_NAMESPACES` as
    they are now (make the API on the thread that stays in the agent's namespace)."""

    def __init__(
        self, service: Service, refused_netns: Mapping[NamespaceId, str] | None = None
    ) -> None:
        self._service = service
        self._refused = namespace_ids() if refused_netns is None else dict(refused_netns)

    async def __call__(self, request: http.Request) -> http.Response:
        seg = request.segments
        method = request.method
        if seg == ("healthz",) and method == "GET":
            return http.Response(200, {"status": "ok"})
        if seg[:2] == ("v1", "endpoints"):
            if len(seg) == 2:
                if method == "POST":
                    add = parse_add(request.json())
                    check_netns(add.netns, self._refused)
                    return http.Response(200, await self._service.add(add))
                if method == "GET":
                    return http.Response(200, await self._service.list())
                return _not_allowed(method, request.path, "GET, POST")
            if len(seg) == 4:
                cid, ifname = seg[2], seg[3]
                if method == "DELETE":
                    return http.Response(200, await self._service.delete(*_identity(cid, ifname)))
                if method == "GET":
                    return http.Response(200, await self._service.check(*_identity(cid, ifname)))
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
        if seg == ("v1", "gc"):
            if method != "POST":
                return _not_allowed(method, request.path, "POST")
            return http.Response(200, await self._service.gc(parse_gc(request.json())))
        raise errors.NotFound(f"no route {method} {request.path}")


def _not_allowed(method: str, path: str, allowed: str) -> http.Response:
    detail = f"{method} is not allowed on {path}; use {allowed}"
    body = http.problem_body(405, "method-not-allowed", detail)
    return http.Response(405, body, {"Allow": allowed})
