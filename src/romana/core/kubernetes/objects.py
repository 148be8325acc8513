"""Kubernetes API objects as frozen values: Namespace, Node, Pod, (Cluster)NetworkPolicy, Service.

Parsing takes the API's JSON shape (what a watch stream or a YAML document gives) and keeps
only what romana needs: names, labels, a pod's addresses, node, named ports and external-IP
annotation (:data:`EXTERNAL_IP_ANNOTATION`), the whole ``networking.k8s.io/v1``
NetworkPolicy spec (:mod:`.networkpolicy`), of a Service what its VIP needs (:mod:`.service`),
the whole ClusterNetworkPolicy (:mod:`.cnp.parse`). :func:`parse` reads any of them by its
``kind``.

Invariants:

* Every problem of one object is reported at once (:class:`InvalidInput`, field paths like
  ``spec.containers[0].ports[1].containerPort``); nothing is built when there is one.
* Labels are kept sorted, so equal objects compare equal whatever order their documents
  gave; a Namespace read offline gains the name label the API server gives it
  (:func:`admitted`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from romana.core import addressing
from romana.core.errors import InvalidInput, Issues
from romana.core.kubernetes import service as _service
from romana.core.kubernetes.cnp import model as _cnp
from romana.core.kubernetes.cnp import parse as _cnp_parse
from romana.core.kubernetes.networkpolicy import PROTOCOLS, NetworkPolicy, network_policy
from romana.core.kubernetes.service import field_at, object_meta, raise_issues
from romana.core.kubernetes.service import json_object as _map

Service = _service.Service
ClusterNetworkPolicy = _cnp.ClusterNetworkPolicy
EXTERNAL_IP_ANNOTATION = "romana.io/external-ip"
"""The pod annotation asking for an external IP: ``<pool>`` or ``<pool>/<address>``."""


@dataclass(frozen=True, slots=True)
class Namespace:
    name: str
    labels: tuple[tuple[str, str], ...] = ()
    uid: str = ""

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    ip: str = ""
    """The address romana registers the host at: the first InternalIP, else ExternalIP."""
    labels: tuple[tuple[str, str], ...] = ()
    uid: str = ""
    ips: tuple[str, ...] = ()
    """Every InternalIP and ExternalIP of ``status.addresses`` (both families), ``ip``
    first, then the others in the order given: the addresses a ClusterNetworkPolicy
    ``nodes`` peer selects. Left out, it is ``(ip,)``."""

    def __post_init__(self) -> None:
        if not self.ips and self.ip:
            object.__setattr__(self, "ips", (self.ip,))


@dataclass(frozen=True, slots=True)
class NamedPort:
    name: str
    port: int
    protocol: str = "TCP"


@dataclass(frozen=True, slots=True)
class Pod:
    namespace: str
    name: str
    labels: tuple[tuple[str, str], ...] = ()
    node: str = ""
    ips: tuple[addressing.IPAddress, ...] = ()
    ports: tuple[NamedPort, ...] = ()
    uid: str = ""
    host_network: bool = False
    external_ip: str = ""
    """The value of :data:`EXTERNAL_IP_ANNOTATION` as given; empty without it."""

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


KubeObject = Namespace | Node | Pod | NetworkPolicy | Service | ClusterNetworkPolicy

NAME_LABEL = "kubernetes.io/metadata.name"
"""The label the API server gives every Namespace, valued with its name (Kubernetes 1.21+)."""


Admitted = TypeVar("Admitted", bound=KubeObject)


def admitted(obj: Admitted) -> Admitted:
    """``obj`` as the API server would store it: a Namespace gains :data:`NAME_LABEL`.

    Objects read offline (``-f`` files) never passed through an API server, yet policies
    select namespaces by this label, the form the Kubernetes documentation recommends. Like
    the API server, the name wins over any value the document gave the label.
    """
    if not isinstance(obj, Namespace):
        return obj
    labels = {**dict(obj.labels), NAME_LABEL: obj.name}
    return replace(obj, labels=tuple(sorted(labels.items())))


def _labels(meta: Mapping[str, Any], at: str, issues: Issues) -> tuple[tuple[str, str], ...]:
    labels = _map(meta.get("labels"), field_at(at, "labels"), issues)
    bad = [k for k, v in labels.items() if not isinstance(k, str) or not isinstance(v, str)]
    for k in bad:
        issues.add(field_at(field_at(at, "labels"), str(k)), "label values must be strings")
    return tuple(sorted((k, v) for k, v in labels.items() if k not in bad))


def namespace(raw: Mapping[str, Any]) -> Namespace:
    issues = Issues()
    name, _, uid = object_meta(raw, issues, namespaced=False)
    labels = _labels(_map(raw.get("metadata"), "metadata", issues), "metadata", issues)
    raise_issues(issues, "Namespace", name)
    return Namespace(name, labels, uid)


def node(raw: Mapping[str, Any]) -> Node:
    issues = Issues()
    name, _, uid = object_meta(raw, issues, namespaced=False)
    labels = _labels(_map(raw.get("metadata"), "metadata", issues), "metadata", issues)
    addresses = _map(raw.get("status"), "status", issues).get("addresses") or []
    ip = ""
    for kind in ("InternalIP", "ExternalIP"):
        found = [
            a.get("address") for a in addresses if isinstance(a, Mapping) and a.get("type") == kind
        ]
        if found and isinstance(found[0], str):
            ip = found[0]
            break
    ips = [ip] if ip else []
    for a in addresses:
        if not isinstance(a, Mapping) or a.get("type") not in ("InternalIP", "ExternalIP"):
            continue
        address = a.get("address")
        if isinstance(address, str) and address and address not in ips:
            ips.append(address)
    raise_issues(issues, "Node", name)
    return Node(name, ip, labels, uid, tuple(ips))


def pod(raw: Mapping[str, Any]) -> Pod:
    issues = Issues()
    name, ns, uid = object_meta(raw, issues, namespaced=True)
    meta = _map(raw.get("metadata"), "metadata", issues)
    labels = _labels(meta, "metadata", issues)
    wanted = _map(meta.get("annotations"), "metadata.annotations", issues).get(
        EXTERNAL_IP_ANNOTATION
    )
    if wanted is not None and not isinstance(wanted, str):
        issues.add(f"metadata.annotations.{EXTERNAL_IP_ANNOTATION}", "must be a string")
    spec = _map(raw.get("spec"), "spec", issues)
    status = _map(raw.get("status"), "status", issues)
    texts = [p.get("ip") for p in status.get("podIPs") or [] if isinstance(p, Mapping)]
    if not texts and status.get("podIP"):
        texts = [status.get("podIP")]
    ips: list[addressing.IPAddress] = []
    for i, text in enumerate(texts):
        try:
            ips.append(ipaddress.ip_address(str(text)))
        except ValueError:
            issues.add(f"status.podIPs[{i}]", f"{text!r} is not an IP address")
    ports: list[NamedPort] = []
    for c, container in enumerate(spec.get("containers") or []):
        for p, entry in enumerate(
            _map(container, f"spec.containers[{c}]", issues).get("ports") or []
        ):
            at = f"spec.containers[{c}].ports[{p}]"
            entry = _map(entry, at, issues)
            number, proto = entry.get("containerPort"), entry.get("protocol") or "TCP"
            if not isinstance(number, int) or not 1 <= number <= 65535:
                issues.add(field_at(at, "containerPort"), "must be a port number 1-65535")
            elif proto not in PROTOCOLS:
                issues.add(field_at(at, "protocol"), f"must be one of {', '.join(PROTOCOLS)}")
            elif isinstance(entry.get("name"), str) and entry["name"]:
                ports.append(NamedPort(entry["name"], number, proto))
    raise_issues(issues, "Pod", name)
    return Pod(
        namespace=ns,
        name=name,
        labels=labels,
        node=str(spec.get("nodeName") or ""),
        ips=tuple(ips),
        ports=tuple(ports),
        uid=uid,
        host_network=bool(spec.get("hostNetwork")),
        external_ip=wanted if isinstance(wanted, str) else "",
    )


def parse(raw: Mapping[str, Any]) -> KubeObject:
    """One API object by its ``kind``; InvalidInput for a kind policy does not use."""
    kind = raw.get("kind")
    parsers: dict[str, Callable[[Mapping[str, Any]], KubeObject]] = {
        "Namespace": namespace,
        "Node": node,
        "Pod": pod,
        "NetworkPolicy": network_policy,
        "Service": _service.service,
        _cnp_parse.KIND: _cnp_parse.parse,
    }
    if kind not in parsers and kind not in _cnp_parse.V1ALPHA1_KINDS:
        raise InvalidInput(f"kind: {kind!r} is not one of {', '.join(parsers)}")
    return parsers.get(str(kind), _cnp_parse.parse)(raw)  # v1alpha1: refused by name
