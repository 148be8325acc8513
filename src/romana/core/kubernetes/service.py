"""Kubernetes Services as frozen values: what romana's VIPs need of them.

A :class:`Service` keeps its type, its selector (a plain label map: the pods it sends to),
the addresses it asks to be reachable at from outside (``spec.externalIPs``,
``spec.loadBalancerIP``), its ``spec.loadBalancerClass``, the external pool its annotation
names, and the addresses its ``status.loadBalancer.ingress`` already reports. Ports are not
kept: a VIP forwards every port of its address (docs/external.md).

Parsing takes the API's JSON shape and reports every problem of one Service at once
(:class:`InvalidInput`, field paths like ``spec.externalIPs[1]``). Like the API server, an
empty or missing selector selects no pod (such a Service's endpoints are managed by hand),
and a missing type is ``ClusterIP``.

The reading rules every Kubernetes parser here shares (:func:`json_object`,
:func:`object_meta`, :func:`field_at`, :func:`raise_issues`) are in this module, the lowest of
the package's parsers.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from romana.core import addressing
from romana.core.errors import InvalidInput, Issues

POOL_ANNOTATION = "romana.io/external-pool"
"""The Service annotation naming the external pool of its VIP."""
TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")


@dataclass(frozen=True, slots=True)
class Service:
    namespace: str
    name: str
    type: str = "ClusterIP"
    selector: tuple[tuple[str, str], ...] = ()
    external_ips: tuple[addressing.IPAddress, ...] = ()
    load_balancer_ip: addressing.IPAddress | None = None
    load_balancer_class: str = ""
    pool: str = ""
    """The value of :data:`POOL_ANNOTATION`; empty without it."""
    ingress: tuple[str, ...] = ()
    """The ``ip`` of each entry of ``status.loadBalancer.ingress``, in order."""
    uid: str = ""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def json_object(raw: Any, at: str, issues: Issues) -> Mapping[str, Any]:
    """``raw`` when it is a JSON object; empty when missing, and also when it is something
    else, which is then reported at ``at`` (the Kubernetes parsers share this rule)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        issues.add(at, "must be an object")
        return {}
    return raw


def field_at(prefix: str, key: str | int) -> str:
    """The path of ``key`` (a member's name or an item's index) below ``prefix``."""
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    return f"{prefix}.{key}" if prefix else key


def object_meta(
    raw: Mapping[str, Any], issues: Issues, *, namespaced: bool
) -> tuple[str, str, str]:
    """An object's name, namespace (``default`` when a ``namespaced`` object names none) and
    uid, each problem reported at its ``metadata`` field."""
    meta = json_object(raw.get("metadata"), "metadata", issues)
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        issues.add("metadata.name", "must be a non-empty name")
        name = ""
    namespace = meta.get("namespace") or ("default" if namespaced else "")
    if not isinstance(namespace, str):
        issues.add("metadata.namespace", "must be a namespace name")
        namespace = ""
    uid = meta.get("uid") or ""
    return name, namespace, str(uid)


def raise_issues(issues: Issues, kind: str, name: str) -> None:
    """InvalidInput listing ``issues``, naming the ``kind`` and ``name`` of the object they
    are about; nothing when there is none."""
    if issues:
        raise InvalidInput(list(issues), context=f"invalid {kind} {name!r}".replace(" ''", ""))


def _address(text: Any, at: str, issues: Issues) -> addressing.IPAddress | None:
    try:
        return ipaddress.ip_address(str(text))
    except ValueError:
        issues.add(at, f"{text!r} is not an IP address")
        return None


def service(raw: Mapping[str, Any]) -> Service:
    issues = Issues()
    meta = json_object(raw.get("metadata"), "metadata", issues)
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        issues.add("metadata.name", "must be a non-empty name")
        name = ""
    namespace = meta.get("namespace") or "default"
    if not isinstance(namespace, str):
        issues.add("metadata.namespace", "must be a namespace name")
        namespace = ""
    annotations = json_object(meta.get("annotations"), "metadata.annotations", issues)
    pool = annotations.get(POOL_ANNOTATION) or ""
    if not isinstance(pool, str):
        issues.add(f"metadata.annotations.{POOL_ANNOTATION}", "must be a pool name")
        pool = ""
    spec = json_object(raw.get("spec"), "spec", issues)
    kind = spec.get("type") or "ClusterIP"
    if kind not in TYPES:
        issues.add("spec.type", f"must be one of {', '.join(TYPES)}")
    selector = json_object(spec.get("selector"), "spec.selector", issues)
    for key, value in selector.items():
        if not isinstance(key, str) or not isinstance(value, str):
            issues.add(f"spec.selector.{key}", "label values must be strings")
    listed = spec.get("externalIPs") or []
    if not isinstance(listed, list):
        issues.add("spec.externalIPs", "must be a list of IP addresses")
        listed = []
    externals = [_address(t, f"spec.externalIPs[{i}]", issues) for i, t in enumerate(listed)]
    wanted = spec.get("loadBalancerIP") or None
    lb_ip = None if wanted is None else _address(wanted, "spec.loadBalancerIP", issues)
    lb_class = spec.get("loadBalancerClass") or ""
    if not isinstance(lb_class, str):
        issues.add("spec.loadBalancerClass", "must be a class name")
        lb_class = ""
    balancer = json_object(
        json_object(raw.get("status"), "status", issues).get("loadBalancer"), "status", issues
    )
    entries = balancer.get("ingress") or []
    ingress = (
        [str(e.get("ip") or "") for e in entries if isinstance(e, Mapping)]
        if isinstance(entries, list)
        else []
    )
    if issues:
        raise InvalidInput(list(issues), context=f"invalid Service {name!r}".replace(" ''", ""))
    return Service(
        namespace=namespace,
        name=name,
        type=str(kind),
        selector=tuple(sorted((str(k), str(v)) for k, v in selector.items())),
        external_ips=tuple(a for a in externals if a is not None),
        load_balancer_ip=lb_ip,
        load_balancer_class=lb_class,
        pool=pool,
        ingress=tuple(ingress),
        uid=str(meta.get("uid") or ""),
    )


def dump(s: Service) -> dict[str, Any]:
    """``s`` as an API object :func:`service` reads back to ``s``."""
    meta: dict[str, Any] = {"name": s.name, "namespace": s.namespace}
    if s.pool:
        meta["annotations"] = {POOL_ANNOTATION: s.pool}
    if s.uid:
        meta["uid"] = s.uid
    spec: dict[str, Any] = {"type": s.type}
    if s.selector:
        spec["selector"] = dict(s.selector)
    if s.external_ips:
        spec["externalIPs"] = [str(a) for a in s.external_ips]
    if s.load_balancer_ip is not None:
        spec["loadBalancerIP"] = str(s.load_balancer_ip)
    if s.load_balancer_class:
        spec["loadBalancerClass"] = s.load_balancer_class
    out: dict[str, Any] = {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}
    if s.ingress:
        out["status"] = {"loadBalancer": {"ingress": [{"ip": ip} for ip in s.ingress]}}
    return out
