"""Kubernetes API objects as frozen values: Namespace, Node, Pod, (Cluster)NetworkPolicy, Service.

Parsing takes the API's JSON shape (what a watch stream or a YAML document gives) and keeps
only what romana needs: names, labels, a pod's addresses, node, named ports and external-IP
annotation (:data:`EXTERNAL_IP_ANNOTATION`), the whole ``networking.k8s.io/v1``
NetworkPolicy spec, of a Service what its VIP needs (:mod:`.service`), the whole
ClusterNetworkPolicy (:mod:`.cnp.parse`). Every problem of one object is reported at once
(:class:`InvalidInput`, field paths like ``spec.ingress[0].ports[1].endPort``).

NetworkPolicy defaulting follows the API server: a missing or empty ``policyTypes`` means
``Ingress``, plus ``Egress`` when the policy has at least one egress rule; a missing
``podSelector`` is the empty selector (every pod of the namespace); a port's protocol
defaults to TCP. ``from``/``to`` missing or empty means every peer, ``ports`` missing or
empty every port; ``ingress``/``egress`` missing or empty means no traffic is allowed in that
direction (which only isolates, when the direction is among the policy types). A named port
must be a valid port name (as a container port's: at most 15 lowercase letters, digits and
inner single hyphens, at least one letter), so a quoted number such as ``"80"`` is refused
as the API server refuses it rather than read as a name no pod defines.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from romana.core import addressing
from romana.core.errors import InvalidInput, Issues
from romana.core.kubernetes import service as _service
from romana.core.kubernetes.cnp import model as _cnp
from romana.core.kubernetes.cnp import parse as _cnp_parse
from romana.core.kubernetes.service import json_object as _map
from romana.core.policy import selectors

Service = _service.Service
ClusterNetworkPolicy = _cnp.ClusterNetworkPolicy
EXTERNAL_IP_ANNOTATION = "romana.io/external-ip"
"""The pod annotation asking for an external IP: ``<pool>`` or ``<pool>/<address>``."""

PROTOCOLS = ("TCP", "UDP", "SCTP")
_PORT_NAME = re.compile(r"(?=.{1,15}$)(?=[^a-z]*[a-z])[a-z0-9]+(?:-[a-z0-9]+)*")
_PORT_NAME_RULE = (
    "is not a port number or a port name (a port name has at most 15 lowercase letters, "
    "digits and single inner hyphens, with at least one letter)"
)


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


@dataclass(frozen=True, slots=True)
class IpBlock:
    cidr: addressing.IPNetwork
    excepts: tuple[addressing.IPNetwork, ...] = ()


@dataclass(frozen=True, slots=True)
class Peer:
    """One ``from``/``to`` entry: pods (by selectors) or an address block."""

    pod_selector: selectors.Selector | None = None
    namespace_selector: selectors.Selector | None = None
    ip_block: IpBlock | None = None


@dataclass(frozen=True, slots=True)
class Port:
    protocol: str = "TCP"
    port: int | str | None = None
    end_port: int | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """Traffic with any of ``peers`` (none: every peer) on any of ``ports`` (none: all)."""

    peers: tuple[Peer, ...] = ()
    ports: tuple[Port, ...] = ()


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    namespace: str
    name: str
    pod_selector: selectors.Selector
    ingress: tuple[Rule, ...] = ()
    egress: tuple[Rule, ...] = ()
    isolates_ingress: bool = True
    isolates_egress: bool = False
    uid: str = ""

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


def _at(prefix: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    return f"{prefix}.{key}" if prefix else key


def _labels(meta: Mapping[str, Any], at: str, issues: Issues) -> tuple[tuple[str, str], ...]:
    labels = _map(meta.get("labels"), _at(at, "labels"), issues)
    bad = [k for k, v in labels.items() if not isinstance(k, str) or not isinstance(v, str)]
    for k in bad:
        issues.add(_at(_at(at, "labels"), str(k)), "label values must be strings")
    return tuple(sorted((k, v) for k, v in labels.items() if k not in bad))


def _meta(raw: Mapping[str, Any], issues: Issues, *, namespaced: bool) -> tuple[str, str, str]:
    meta = _map(raw.get("metadata"), "metadata", issues)
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


def _finish(issues: Issues, kind: str, name: str) -> None:
    if issues:
        raise InvalidInput(list(issues), context=f"invalid {kind} {name!r}".replace(" ''", ""))


def namespace(raw: Mapping[str, Any]) -> Namespace:
    issues = Issues()
    name, _, uid = _meta(raw, issues, namespaced=False)
    labels = _labels(_map(raw.get("metadata"), "metadata", issues), "metadata", issues)
    _finish(issues, "Namespace", name)
    return Namespace(name, labels, uid)


def node(raw: Mapping[str, Any]) -> Node:
    issues = Issues()
    name, _, uid = _meta(raw, issues, namespaced=False)
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
    _finish(issues, "Node", name)
    return Node(name, ip, labels, uid, tuple(ips))


def pod(raw: Mapping[str, Any]) -> Pod:
    issues = Issues()
    name, ns, uid = _meta(raw, issues, namespaced=True)
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
                issues.add(_at(at, "containerPort"), "must be a port number 1-65535")
            elif proto not in PROTOCOLS:
                issues.add(_at(at, "protocol"), f"must be one of {', '.join(PROTOCOLS)}")
            elif isinstance(entry.get("name"), str) and entry["name"]:
                ports.append(NamedPort(entry["name"], number, proto))
    _finish(issues, "Pod", name)
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


def network_policy(raw: Mapping[str, Any]) -> NetworkPolicy:
    issues = Issues()
    name, ns, uid = _meta(raw, issues, namespaced=True)
    spec = _map(raw.get("spec"), "spec", issues)
    for key in sorted(set(spec) - {"podSelector", "ingress", "egress", "policyTypes"}, key=str):
        issues.add(_at("spec", str(key)), "unknown key")
    target = selectors.parse(spec.get("podSelector") or {}, "spec.podSelector", issues)
    ingress = _rules(spec.get("ingress"), "spec.ingress", "from", issues)
    egress = _rules(spec.get("egress"), "spec.egress", "to", issues)
    types = spec.get("policyTypes")
    if types is None or types == []:
        kinds = {"Ingress", *(("Egress",) if egress else ())}
    elif not isinstance(types, list) or not all(t in ("Ingress", "Egress") for t in types):
        issues.add("spec.policyTypes", "must list Ingress, Egress or both")
        kinds = set()
    else:
        kinds = set(types)
    _finish(issues, "NetworkPolicy", name)
    assert target is not None
    return NetworkPolicy(
        namespace=ns,
        name=name,
        pod_selector=target,
        ingress=ingress if "Ingress" in kinds else (),
        egress=egress if "Egress" in kinds else (),
        isolates_ingress="Ingress" in kinds,
        isolates_egress="Egress" in kinds,
        uid=uid,
    )


def _rules(raw: Any, at: str, peers_key: str, issues: Issues) -> tuple[Rule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        issues.add(at, "must be a list of rules")
        return ()
    out = []
    for i, item in enumerate(raw):
        where = _at(at, i)
        rule = _map(item, where, issues)
        for key in sorted(set(rule) - {peers_key, "ports"}, key=str):
            issues.add(_at(where, str(key)), "unknown key")
        peers = rule.get(peers_key) or []
        ports = rule.get("ports") or []
        if not isinstance(peers, list) or not isinstance(ports, list):
            issues.add(where, f"{peers_key} and ports must be lists")
            continue
        parsed_peers = [
            _peer(p, _at(_at(where, peers_key), j), issues) for j, p in enumerate(peers)
        ]
        parsed_ports = [_port(p, _at(_at(where, "ports"), j), issues) for j, p in enumerate(ports)]
        out.append(
            Rule(
                tuple(p for p in parsed_peers if p is not None),
                tuple(p for p in parsed_ports if p is not None),
            )
        )
    return tuple(out)


def _peer(raw: Any, at: str, issues: Issues) -> Peer | None:
    obj = _map(raw, at, issues)
    for key in sorted(set(obj) - {"podSelector", "namespaceSelector", "ipBlock"}, key=str):
        issues.add(_at(at, str(key)), "unknown key")
    given = [k for k in ("podSelector", "namespaceSelector", "ipBlock") if obj.get(k) is not None]
    if not given:
        issues.add(at, "must give podSelector, namespaceSelector or ipBlock")
        return None
    if "ipBlock" in given and len(given) > 1:
        issues.add(at, "ipBlock cannot be combined with podSelector or namespaceSelector")
        return None
    if "ipBlock" in given:
        block = _map(obj["ipBlock"], _at(at, "ipBlock"), issues)
        try:
            cidr = ipaddress.ip_network(str(block.get("cidr")), strict=False)
        except ValueError:
            issues.add(_at(at, "ipBlock.cidr"), "must be a CIDR such as 10.0.0.0/8")
            return None
        excepts = []
        for k, text in enumerate(block.get("except") or []):
            try:
                net = ipaddress.ip_network(str(text), strict=False)
            except ValueError:
                issues.add(_at(at, f"ipBlock.except[{k}]"), "must be a CIDR")
                continue
            if net.version != cidr.version or not net.subnet_of(cidr):  # type: ignore[arg-type]
                issues.add(_at(at, f"ipBlock.except[{k}]"), f"must lie inside cidr {cidr}")
                continue
            excepts.append(net)
        return Peer(ip_block=IpBlock(cidr, tuple(excepts)))
    pods = obj.get("podSelector")
    nss = obj.get("namespaceSelector")
    pod_sel = selectors.parse(pods, _at(at, "podSelector"), issues) if pods is not None else None
    ns_sel = selectors.parse(nss, _at(at, "namespaceSelector"), issues) if nss is not None else None
    return Peer(pod_selector=pod_sel, namespace_selector=ns_sel)


def _port(raw: Any, at: str, issues: Issues) -> Port | None:
    obj = _map(raw, at, issues)
    for key in sorted(set(obj) - {"protocol", "port", "endPort"}, key=str):
        issues.add(_at(at, str(key)), "unknown key")
    proto = obj.get("protocol") or "TCP"
    if proto not in PROTOCOLS:
        issues.add(_at(at, "protocol"), f"must be one of {', '.join(PROTOCOLS)}")
        return None
    port, end = obj.get("port"), obj.get("endPort")
    if isinstance(port, bool) or (port is not None and not isinstance(port, int | str)):
        issues.add(_at(at, "port"), "must be a port number or a port name")
        return None
    if isinstance(port, int) and not 1 <= port <= 65535:
        issues.add(_at(at, "port"), "must be in 1-65535")
    if isinstance(port, str) and not _PORT_NAME.fullmatch(port):
        issues.add(_at(at, "port"), f"{port!r} {_PORT_NAME_RULE}")
    if end is not None:
        if not isinstance(port, int):
            issues.add(_at(at, "endPort"), "needs a numeric port")
        elif not isinstance(end, int) or isinstance(end, bool) or not port <= end <= 65535:
            issues.add(_at(at, "endPort"), f"must be a port number in {port}-65535")
    return Port(proto, port, end)


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
