"""The agent's local API wire schema: :mod:`romana.core.endpoint` values ⇄ JSON objects.

The one mapping between the endpoint values and the bodies of the local API, used by the
agent's server side (:mod:`romana.agent.localapi`), by the plugin's socket client
(:mod:`romana.integrations.cni.agentapi`, whose docstring is the contract with examples) and by
the plugin itself to check what it asks for. :data:`VERSION` is the schema's version, the
``/v1`` of every path; a change that an older peer would misread takes a new one.

Parsing a request reports every problem at once (``InvalidInput``, each issue naming the
member at fault by its dotted path: ``tenant``, ``labels.app``, ``valid[3].ifname``).
Parsing an answer refuses one the plugin could not use (a ``RomanaError`` naming the call).
Standard library only; like :mod:`romana.core.endpoint` importable by the CNI plugin, so it
states the tenant and segment name rule itself (a test holds it equal to
:mod:`romana.core.names`, which every other module quotes).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from romana.core import errors
from romana.core.endpoint import (
    ATTACHMENTS,
    DEFAULT_SEGMENT,
    DOCKER,
    DOCKER_ID_HEX,
    DOCKER_ID_PREFIX,
    MAX_MTU,
    MIN_MTU,
    TAP,
    VETH,
    Address,
    Endpoint,
    EndpointRequest,
    GcAnswer,
    GcRequest,
    Interface,
    Route,
    docker_ifname,
    is_docker_id,
    tap_name,
)

VERSION = 1
PREFIX = f"/v{VERSION}"

CONTAINER_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}")
CONTAINER_ID_RULE = (
    "must be 1-200 characters of letters, digits, '_', '.', '-', starting alphanumeric"
)
IFNAME_RE = re.compile(r"[A-Za-z0-9_.@=+\-]{1,15}")
IFNAME_RULE = "must be 1-15 characters of letters, digits, '_', '.', '@', '=', '+', '-'"
REQUEST_FIELDS = frozenset(
    {
        "container_id",
        "ifname",
        "netns",
        "tenant",
        "segment",
        "labels",
        "network",
        "k8s",
        "mtu",
        "attachment",
    }
)
ROUTE_OPTIONS = ("mtu", "advmss", "priority", "table", "scope")
NAME_RE = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9_.-]{0,61}[a-zA-Z0-9])?$")
NAME_RULE = (
    "must be 1-63 characters of letters, digits, '_', '.', '-', starting and ending alphanumeric"
)
"""Tenant and segment names: :data:`romana.core.names.NAME_RE` and its rule."""


# -- requests -------------------------------------------------------------------------------


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
    for name in sorted(str(k) for k, v in value.items() if not isinstance(v, str)):
        issues.add(f"{key}.{name}", "must be a string")
    return {str(k): v for k, v in value.items() if isinstance(v, str)}


def _name(value: str, field: str, issues: errors.Issues) -> None:
    if NAME_RE.fullmatch(value) is None:
        issues.add(field, NAME_RULE)


def check_identity(container_id: str, ifname: str, issues: errors.Issues) -> None:
    """Add the problems of one (container_id, ifname) pair to ``issues``."""
    if not CONTAINER_ID_RE.fullmatch(container_id):
        issues.add("container_id", CONTAINER_ID_RULE)
    if not IFNAME_RE.fullmatch(ifname) or ifname in (".", ".."):
        issues.add("ifname", IFNAME_RULE)


def check_docker(container_id: str, ifname: str, issues: errors.Issues) -> None:
    """Add the problems of a docker attachment's (container_id, ifname) to ``issues``."""
    if not is_docker_id(container_id):
        issues.add(
            "container_id",
            f"must be {DOCKER_ID_PREFIX!r} + {DOCKER_ID_HEX} lowercase hex digits for a "
            "docker attachment",
        )
    elif ifname != docker_ifname(container_id):
        issues.add("ifname", f"must be {docker_ifname(container_id)!r} for a docker attachment")


def checked(request: EndpointRequest) -> EndpointRequest:
    """``request`` as :func:`parse_request` would accept it; InvalidInput otherwise (a front
    end that builds its requests in code passes the same checks as one that sends JSON)."""
    return parse_request(request_to_wire(request))


def identity(container_id: str, ifname: str) -> tuple[str, str]:
    """``(container_id, ifname)`` checked; InvalidInput naming each that breaks its rule."""
    issues = errors.Issues()
    check_identity(container_id, ifname, issues)
    issues.raise_if_any()
    return container_id, ifname


def parse_request(body: Any) -> EndpointRequest:
    """An ADD body → :class:`EndpointRequest`; InvalidInput listing every problem."""
    if not isinstance(body, Mapping):
        raise errors.InvalidInput([errors.Issue("body", "must be a JSON object")])
    issues = errors.Issues()
    for key in sorted(set(body) - REQUEST_FIELDS):
        issues.add(str(key), "is not a known field")
    container_id = _string(body, "container_id", issues, required=True)
    ifname = _string(body, "ifname", issues, required=True)
    if container_id or ifname:
        # Each is checked against its own rule; a missing one is reported once, above.
        check_identity(container_id or "x", ifname or "x", issues)
    attachment = _string(body, "attachment", issues, required=False) or VETH
    if attachment not in ATTACHMENTS:
        issues.add("attachment", f"must be one of {', '.join(ATTACHMENTS)}")
    # A tap is a device of the host namespace (the VM's), named after the port it serves.
    netns = _string(body, "netns", issues, required=attachment != TAP)
    if attachment == TAP:
        if netns:
            issues.add("netns", "must be empty for a tap attachment")
        if container_id and ifname and ifname != tap_name(container_id):
            issues.add("ifname", f"must be {tap_name(container_id)!r}, the tap of the port")
    elif netns and not netns.startswith("/"):
        issues.add("netns", "must be an absolute path to a network namespace")
    if attachment == DOCKER and container_id and ifname:
        check_docker(container_id, ifname, issues)
    tenant = _string(body, "tenant", issues, required=True)
    if tenant:
        _name(tenant, "tenant", issues)
    segment = _string(body, "segment", issues, required=False) or DEFAULT_SEGMENT
    _name(segment, "segment", issues)
    network = _string(body, "network", issues, required=False)
    labels = _string_map(body, "labels", issues)
    k8s = _string_map(body, "k8s", issues)
    mtu = body.get("mtu")
    if mtu is not None and (
        not isinstance(mtu, int) or isinstance(mtu, bool) or not MIN_MTU <= mtu <= MAX_MTU
    ):
        issues.add("mtu", f"must be an integer {MIN_MTU}..{MAX_MTU}")
    issues.raise_if_any()
    return EndpointRequest(
        container_id, ifname, netns, tenant, segment, labels, network, k8s, mtu, attachment
    )


def request_to_wire(request: EndpointRequest) -> dict[str, Any]:
    """The ADD body of ``request``; ``k8s``, ``mtu`` and an ``attachment`` other than
    ``veth`` only when set."""
    body: dict[str, Any] = {
        "container_id": request.container_id,
        "ifname": request.ifname,
        "netns": request.netns,
        "network": request.network,
        "tenant": request.tenant,
        "segment": request.segment,
        "labels": dict(request.labels),
    }
    if request.k8s:
        body["k8s"] = dict(request.k8s)
    if request.mtu is not None:
        body["mtu"] = request.mtu
    if request.attachment != VETH:
        body["attachment"] = request.attachment
    return body


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


def gc_to_wire(request: GcRequest) -> dict[str, Any]:
    pairs = sorted(request.valid)
    return {"network": request.network, "valid": [_attachment(c, i) for c, i in pairs]}


# -- answers --------------------------------------------------------------------------------


def _attachment(container_id: str, ifname: str) -> dict[str, str]:
    return {"container_id": container_id, "ifname": ifname}


def _interface(iface: Interface) -> dict[str, Any]:
    out: dict[str, Any] = {"name": iface.name, "mac": iface.mac}
    if iface.mtu is not None:
        out["mtu"] = iface.mtu
    if iface.sandbox:
        out["sandbox"] = iface.sandbox
    return out


def route_to_wire(route: Route) -> dict[str, Any]:
    out: dict[str, Any] = {"dst": route.dst}
    if route.gw:
        out["gw"] = route.gw
    for key in ROUTE_OPTIONS:
        value = getattr(route, key)
        if value is not None:
            out[key] = value
    return out


def endpoint_to_wire(endpoint: Endpoint) -> dict[str, Any]:
    """The ``Endpoint`` object of the contract (with ``problems`` on a CHECK answer)."""
    addresses = []
    for entry in endpoint.addresses:
        address = {"address": entry.address}
        if entry.gateway:
            address["gateway"] = entry.gateway
        addresses.append(address)
    out: dict[str, Any] = {
        "container_id": endpoint.container_id,
        "ifname": endpoint.ifname,
        "netns": endpoint.netns,
        "network": endpoint.network,
        "tenant": endpoint.tenant,
        "segment": endpoint.segment,
        "addresses": addresses,
        "interface": _interface(endpoint.interface),
        "host_interface": _interface(endpoint.host_interface),
        "routes": [route_to_wire(r) for r in endpoint.routes],
    }
    if endpoint.mtu is not None:
        out["mtu"] = endpoint.mtu
    if endpoint.problems is not None:
        out["problems"] = list(endpoint.problems)
    return out


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _cidr(value: object) -> bool:
    return isinstance(value, str) and value.count("/") == 1 and bool(value.split("/")[0])


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key, "")
    return value if isinstance(value, str) else ""


def _problems_of(answer: Mapping[str, Any]) -> list[str]:
    """What makes ``answer`` unusable as an ``Endpoint``, as far as a client relies on it."""
    found: list[str] = []
    addresses = answer.get("addresses")
    if not isinstance(addresses, list) or not addresses:
        found.append("addresses: required, a non-empty list")
    else:
        for i, entry in enumerate(addresses):
            if not isinstance(entry, dict) or not _cidr(entry.get("address")):
                found.append(f"addresses[{i}].address: required, an address in CIDR notation")
            elif not isinstance(entry.get("gateway", ""), str):
                found.append(f"addresses[{i}].gateway: must be a string")
    for key in ("interface", "host_interface"):
        iface = answer.get(key)
        if not isinstance(iface, dict) or not all(
            isinstance(iface.get(k), str) and iface.get(k) for k in ("name", "mac")
        ):
            found.append(f"{key}: required, an object with name and mac")
        elif iface.get("mtu") is not None and not _integer(iface.get("mtu")):
            found.append(f"{key}.mtu: must be an integer")
    routes = answer.get("routes", [])
    if not isinstance(routes, list) or not all(
        isinstance(r, dict)
        and isinstance(r.get("dst"), str)
        and isinstance(r.get("gw", ""), str)
        and all(r.get(k) is None or _integer(r.get(k)) for k in ROUTE_OPTIONS)
        for r in routes
    ):
        found.append("routes: must be a list of objects with dst")
    mtu = answer.get("mtu")
    if mtu is not None and not _integer(mtu):
        found.append("mtu: must be an integer")
    listed = answer.get("problems", [])
    if not isinstance(listed, list) or not all(isinstance(p, str) for p in listed):
        found.append("problems: must be a list of strings")
    return found


def _interface_of(raw: Mapping[str, Any]) -> Interface:
    return Interface(raw["name"], raw["mac"], raw.get("mtu"), _text(raw, "sandbox"))


def endpoint_from_wire(answer: Mapping[str, Any], call: str) -> Endpoint:
    """``answer`` as an :class:`Endpoint`; RomanaError naming ``call`` when it is malformed."""
    found = _problems_of(answer)
    if found:
        raise errors.RomanaError(
            f"romana-agent answered {call} with a malformed endpoint: " + "; ".join(found)
        )
    problems = answer.get("problems")
    return Endpoint(
        container_id=_text(answer, "container_id"),
        ifname=_text(answer, "ifname"),
        netns=_text(answer, "netns"),
        network=_text(answer, "network"),
        tenant=_text(answer, "tenant"),
        segment=_text(answer, "segment"),
        addresses=tuple(Address(a["address"], a.get("gateway", "")) for a in answer["addresses"]),
        interface=_interface_of(answer["interface"]),
        host_interface=_interface_of(answer["host_interface"]),
        routes=tuple(
            Route(r["dst"], r.get("gw", ""), *(r.get(k) for k in ROUTE_OPTIONS))
            for r in answer.get("routes", [])
        ),
        mtu=answer.get("mtu"),
        problems=None if problems is None else tuple(problems),
    )


def gc_answer_to_wire(answer: GcAnswer) -> dict[str, Any]:
    return {
        "released": [_attachment(c, i) for c, i in answer.released],
        "errors": list(answer.errors),
    }


def gc_answer_from_wire(answer: Mapping[str, Any], call: str) -> GcAnswer:
    """``answer`` as a :class:`GcAnswer`; RomanaError naming ``call`` when it has no lists."""
    released, failures = answer.get("released"), answer.get("errors", [])
    if not isinstance(released, list) or not isinstance(failures, list):
        raise errors.RomanaError(
            f"romana-agent answered {call} without a released list: {answer!r}"
        )
    pairs = tuple(
        (str(r.get("container_id", "")), str(r.get("ifname", "")))
        for r in released
        if isinstance(r, dict)
    )
    return GcAnswer(pairs, tuple(str(f) for f in failures))
