"""ADD, DEL, CHECK, STATUS and GC: each a translation between one CNI request and the agent.

The plugin creates nothing itself; the agent wires endpoints. Each command is one call of an
:class:`~romana.core.endpoint.EndpointPort`: the agent's own when the agent hosts the plugin
(:mod:`romana.agent.cnihost`), else :class:`.agentapi.AgentPort` over the agent's socket
(contract in :mod:`.agentapi`). The ADD request is checked here, once, by the wire schema's
:func:`~romana.core.endpointwire.parse_request`. The only other I/O is the pending directory:
one file looked up per ADD and DEL (absent but for a DEL that could not reach the agent),
done in place, since a look-up that finds nothing costs microseconds.

This module maps every failure once, to the CNI error the runtime sees. A project error gets
the code the one table gives its class (:mod:`romana.core.problems`: ``Unsupported`` → 2,
``NotFound`` → 3, ``AlreadyExists`` → 101, ``Unavailable``/``Conflict``/``Exhausted`` → 11,
``QuotaExceeded`` → 100, not 11: no retry succeeds until an admin raises the quota; any other
→ 100), refined here by what only the command knows:

* ``InvalidInput`` → 4 when a field at fault came from an environment variable, else 7; fields
  the agent names (``netns``, ``tenant``, ``k8s.namespace``…) are translated back to the variable
  or configuration key that supplied them, so the message points at what to fix.
* ``NotFound`` on CHECK → 102. STATUS turns every failure but a configuration error into 50
  (51 when the agent says so).
* Foreign failures: a timeout → 11, another ``OSError`` → 5, anything else → 999 (a bug).

DEL never fails because something is already gone or the agent cannot be reached: a release
the agent does not confirm is recorded in the pending directory (see :mod:`.pending`) and DEL
succeeds. It fails only when it can do neither (an I/O error, 5) or when its own input is wrong.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TextIO

from romana.core import endpointwire, errors, problems
from romana.core.endpoint import Endpoint, EndpointPort, GcRequest
from romana.integrations.cni import agentapi, pending, request, spec
from romana.integrations.cni.plugin import Invocation

AGENT_FAILED = "ROMANA_CNI_AGENT_FAILED"
"""Set by the compiled front when it handed over after the agent failed it (the reason)."""

# Agent request fields that the plugin fills from environment variables.
_ENV_FIELDS = {
    "container_id": "CNI_CONTAINERID",
    "ifname": "CNI_IFNAME",
    "netns": "CNI_NETNS",
    "k8s": "CNI_ARGS",
    "k8s.namespace": "CNI_ARGS K8S_POD_NAMESPACE",
    "k8s.pod": "CNI_ARGS K8S_POD_NAME",
    "k8s.pod_uid": "CNI_ARGS K8S_POD_UID",
    "network": "name",
}


Connect = Callable[[request.Settings], EndpointPort]


async def execute(call: Invocation, connect: Connect | None = None) -> int:
    """Run one command other than VERSION; write its result or error; return the exit code.

    ``connect`` gives the endpoint port for the request's settings: by default the agent's
    over the configured socket (failing at once when ``ROMANA_CNI_AGENT_FAILED`` says the
    compiled front already found the agent unusable); the agent passes its own.
    """
    env, stdin, stdout, stderr = call
    command = env.get("CNI_COMMAND", "")
    req: request.Request | None = None
    if connect is None:
        connect = functools.partial(_socket_port, env.get(AGENT_FAILED, ""))
    try:
        command = request.command_of(env)
        req = request.parse(command, env, stdin)
        result = await _HANDLERS[command](req, stderr, connect(req.settings))
    except Exception as exc:  # every failure must reach the runtime as CNI error JSON
        err = to_cni_error(exc, command, req)
        version = req.version if req is not None else _declared_version(stdin)
        _write(stdout, err.to_json(version))
        who = f" {req.container_id}/{req.ifname}" if req is not None and req.container_id else ""
        stderr.write(f"romana-cni {command or '?'}{who}: error {err.code}: {err}\n")
        return 1
    if result is not None:
        _write(stdout, spec.convert(result, req.version))
    return 0


def to_cni_error(
    exc: BaseException, command: str, req: request.Request | None = None
) -> spec.CniError:
    """The CNI error for ``exc`` raised while serving ``command``."""
    if isinstance(exc, spec.CniError):
        return exc
    if isinstance(exc, errors.InvalidInput):
        return _invalid(exc, req)
    if command == "STATUS":
        return spec.CniError(spec.ERR_NOT_AVAILABLE, "romana-agent is not available", str(exc))
    if isinstance(exc, errors.NotFound) and command == "CHECK":
        return spec.CniError(spec.ERR_CHECK_FAILED, "no endpoint recorded", str(exc))
    if isinstance(exc, errors.RomanaError):
        row = problems.row_of(type(exc))
        return spec.CniError(row.cni_code, row.cni_msg, str(exc))
    if isinstance(exc, TimeoutError):
        return spec.CniError(spec.ERR_TRY_AGAIN_LATER, "try again later", str(exc))
    if isinstance(exc, OSError):
        return spec.CniError(spec.ERR_IO, "I/O failure", f"{type(exc).__name__}: {exc}")
    return spec.CniError(spec.ERR_INTERNAL, "internal error", f"{type(exc).__name__}: {exc}")


def _invalid(
    exc: errors.InvalidInput, req: request.Request | None, prefix: str = ""
) -> spec.CniError:
    issues = [(_origin(issue.field, req), issue.rule) for issue in exc.issues]
    fields = list(dict.fromkeys(origin for origin, _ in issues if origin))
    details = "; ".join(f"{origin}: {rule}" if origin else rule for origin, rule in issues)
    if any(origin.startswith("CNI_") for origin in fields):
        code, what = spec.ERR_INVALID_ENVIRONMENT, "invalid environment variables"
    else:
        code, what = spec.ERR_INVALID_CONFIG, "invalid network configuration"
    return spec.CniError(code, f"{what}: {', '.join(fields)}" if fields else what, prefix + details)


def _origin(field: str, req: request.Request | None) -> str:
    """The variable or config key behind a field; agent body paths are translated."""
    placement = req.placement if req is not None else None
    head = field.split(".", 1)[0].split("[", 1)[0]
    if field in _ENV_FIELDS:
        return _ENV_FIELDS[field]
    if placement is not None and head == "tenant":
        return placement.tenant_source
    if placement is not None and head == "segment":
        return placement.segment_source
    if placement is not None and field.startswith("labels."):
        key = field.removeprefix("labels.")
        return placement.label_sources.get(key, field)
    if head == "valid":
        return request.VALID_ATTACHMENTS + field.removeprefix("valid")
    return field


def _socket_port(failed: str, settings: request.Settings) -> EndpointPort:
    client = agentapi.AgentClient(settings.agent_socket, settings.agent_timeout, failed)
    return agentapi.AgentPort(client)


@contextmanager
def _from_agent(req: request.Request) -> Iterator[None]:
    # The agent names members of its request body; the runtime's operator needs the variable
    # or configuration key that supplied them, and to know that the agent was the one to object.
    try:
        yield
    except errors.InvalidInput as exc:
        raise _invalid(exc, req, "romana-agent rejected the request: ") from exc


async def _add(req: request.Request, stderr: TextIO, port: EndpointPort) -> spec.Result:
    placement = req.placement
    assert placement is not None  # request.parse requires a tenant for ADD
    body: dict[str, Any] = {
        "container_id": req.container_id,
        "ifname": req.ifname,
        "netns": req.netns,
        "network": req.network,
        "tenant": placement.tenant,
        "segment": placement.segment,
        "labels": dict(placement.labels),
    }
    k8s = {
        key: req.cni_args[name]
        for key, name in (
            ("namespace", "K8S_POD_NAMESPACE"),
            ("pod", "K8S_POD_NAME"),
            ("pod_uid", "K8S_POD_UID"),
        )
        if req.cni_args.get(name)
    }
    if "namespace" in k8s:
        body["k8s"] = k8s
    if req.mtu is not None:
        body["mtu"] = req.mtu
    with _from_agent(req):
        stale = pending.find(req.settings.pending_dir, req.container_id, req.ifname)
        if stale is not None:
            # A DEL of this key never reached the agent; it must happen before the new ADD,
            # or the agent would answer the old allocation and later release it.
            await port.delete(req.container_id, req.ifname)
            pending.complete(req.settings.pending_dir, stale)
        endpoint = await port.add(endpointwire.parse_request(body))
    return _result(req, endpoint)


def _result(req: request.Request, endpoint: Endpoint) -> spec.Result:
    """The canonical result: ``prevResult`` (when chained) followed by this endpoint."""
    prev = req.prev_result or {}
    interfaces: list[dict[str, Any]] = list(prev.get("interfaces", []))
    host, inside = endpoint.host_interface, endpoint.interface
    host_if: dict[str, Any] = {"name": host.name, "mac": host.mac}
    inside_if: dict[str, Any] = {"name": inside.name, "mac": inside.mac}
    for iface, source in ((host_if, host), (inside_if, inside)):
        mtu = endpoint.mtu if source.mtu is None else source.mtu
        if mtu is not None:
            iface["mtu"] = mtu
    inside_if["sandbox"] = inside.sandbox or req.netns
    interfaces += [host_if, inside_if]
    index = len(interfaces) - 1
    ips = list(prev.get("ips", []))
    for entry in endpoint.addresses:
        ip: dict[str, Any] = {"address": entry.address}
        if entry.gateway:
            ip["gateway"] = entry.gateway
        ip["interface"] = index
        ips.append(ip)
    routes = list(prev.get("routes", []))
    routes += [endpointwire.route_to_wire(r) for r in endpoint.routes]
    result: spec.Result = {"interfaces": interfaces, "ips": ips, "routes": routes}
    dns = req.dns or prev.get("dns")
    if dns:
        result["dns"] = dict(dns)
    return result


async def _delete(req: request.Request, stderr: TextIO, port: EndpointPort) -> None:
    directory = req.settings.pending_dir
    try:
        with _from_agent(req):
            await port.delete(req.container_id, req.ifname)
    except errors.NotFound:
        pass
    except errors.RomanaError as exc:
        release = pending.PendingRelease(
            req.container_id, req.ifname, req.network, req.netns, time.time()
        )
        path = pending.record(directory, release)
        stderr.write(
            f"romana-cni DEL {req.container_id}/{req.ifname}: {exc}; "
            f"release recorded in {path} for romana-agent to finish\n"
        )
        return None
    stale = pending.find(directory, req.container_id, req.ifname)
    if stale is not None:
        pending.complete(directory, stale)
    return None


async def _check(req: request.Request, stderr: TextIO, port: EndpointPort) -> None:
    with _from_agent(req):
        endpoint = await port.check(req.container_id, req.ifname)
    problems = list(endpoint.problems or ())
    problems += _disagreements(req, endpoint)
    if problems:
        raise spec.CniError(spec.ERR_CHECK_FAILED, "endpoint check failed", "; ".join(problems))
    return None


def _disagreements(req: request.Request, endpoint: Endpoint) -> list[str]:
    """Where ``prevResult`` and the agent's record of the endpoint differ."""
    prev = req.prev_result or {}
    found: list[str] = []
    interfaces = prev.get("interfaces", [])
    ours = [
        i
        for i, iface in enumerate(interfaces)
        if iface.get("name") == req.ifname and iface.get("sandbox") in (None, "", req.netns)
    ]
    if not ours:
        found.append(f"prevResult lists no interface {req.ifname} in {req.netns}")
    recorded = {a.address for a in endpoint.addresses}
    listed = {ip["address"] for ip in prev.get("ips", []) if ip.get("interface") in ours}
    for address in sorted(recorded - listed):
        found.append(f"address {address} is allocated to the endpoint but not in prevResult")
    for address in sorted(listed - recorded):
        found.append(f"prevResult address {address} is not allocated to the endpoint")
    if endpoint.netns and endpoint.netns != req.netns:
        found.append(f"the endpoint was wired in {endpoint.netns}, not in {req.netns}")
    return found


async def _status(req: request.Request, stderr: TextIO, port: EndpointPort) -> None:
    placement = req.placement
    tenant = placement.tenant if placement is not None else None
    segment = placement.segment if placement is not None else None
    with _from_agent(req):
        readiness = await port.status(tenant, segment)
    if not readiness.ready:
        code = spec.ERR_NOT_AVAILABLE
        if readiness.slug == agentapi.LIMITED_CONNECTIVITY:
            code = spec.ERR_LIMITED_CONNECTIVITY
        raise spec.CniError(code, "romana-agent is not ready", readiness.detail)
    return None


async def _gc(req: request.Request, stderr: TextIO, port: EndpointPort) -> None:
    with _from_agent(req):
        answer = await port.gc(GcRequest(req.network, frozenset(req.valid_attachments)))
    failures = answer.errors
    if failures:
        raise spec.CniError(
            spec.ERR_AGENT,
            f"GC could not release {len(failures)} endpoint(s)",
            "; ".join(str(f) for f in failures),
        )
    return None


_HANDLERS: dict[
    str, Callable[[request.Request, TextIO, EndpointPort], Awaitable[spec.Result | None]]
] = {
    "ADD": _add,
    "DEL": _delete,
    "CHECK": _check,
    "STATUS": _status,
    "GC": _gc,
}


def _declared_version(stdin: bytes) -> str:
    version = spec.stdin_version(stdin)
    if isinstance(version, str) and version in spec.SUPPORTED_VERSIONS:
        return version
    return spec.CURRENT_VERSION


def _write(stdout: TextIO, body: Mapping[str, Any]) -> None:
    stdout.write(json.dumps(body) + "\n")
    stdout.flush()
