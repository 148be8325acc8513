"""Kubernetes NetworkPolicies (``networking.k8s.io/v1``) as frozen values, and their parser.

:func:`network_policy` keeps the whole spec: the pod selector, the ingress and egress rules
with their peers (pods by selectors, or an address block with its exceptions) and ports, and
which directions the policy isolates. Every problem of one policy is reported at once
(:class:`InvalidInput`, field paths like ``spec.ingress[0].ports[1].endPort``).

Invariants (the API server's defaulting):

* A missing or empty ``policyTypes`` means ``Ingress``, plus ``Egress`` when the policy has
  at least one egress rule; a missing ``podSelector`` is the empty selector (every pod of the
  namespace); a port's protocol defaults to TCP.
* ``from``/``to`` missing or empty means every peer, ``ports`` missing or empty every port;
  ``ingress``/``egress`` missing or empty means no traffic is allowed in that direction
  (which only isolates, when the direction is among the policy types).
* A named port must be a valid port name (as a container port's: at most 15 lowercase
  letters, digits and inner single hyphens, at least one letter), so a quoted number such as
  ``"80"`` is refused as the API server refuses it rather than read as a name no pod defines.
* An ``ipBlock`` exception lies inside its CIDR; an ``ipBlock`` is never combined with
  selectors.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from romana.core import addressing
from romana.core.errors import Issues
from romana.core.kubernetes.service import field_at, json_object, object_meta, raise_issues
from romana.core.policy import selectors

PROTOCOLS = ("TCP", "UDP", "SCTP")
_PORT_NAME = re.compile(r"(?=.{1,15}$)(?=[^a-z]*[a-z])[a-z0-9]+(?:-[a-z0-9]+)*")
_PORT_NAME_RULE = (
    "is not a port number or a port name (a port name has at most 15 lowercase letters, "
    "digits and single inner hyphens, with at least one letter)"
)


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


def network_policy(raw: Mapping[str, Any]) -> NetworkPolicy:
    issues = Issues()
    name, ns, uid = object_meta(raw, issues, namespaced=True)
    spec = json_object(raw.get("spec"), "spec", issues)
    for key in sorted(set(spec) - {"podSelector", "ingress", "egress", "policyTypes"}, key=str):
        issues.add(field_at("spec", str(key)), "unknown key")
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
    raise_issues(issues, "NetworkPolicy", name)
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
        where = field_at(at, i)
        rule = json_object(item, where, issues)
        for key in sorted(set(rule) - {peers_key, "ports"}, key=str):
            issues.add(field_at(where, str(key)), "unknown key")
        peers = rule.get(peers_key) or []
        ports = rule.get("ports") or []
        if not isinstance(peers, list) or not isinstance(ports, list):
            issues.add(where, f"{peers_key} and ports must be lists")
            continue
        parsed_peers = [
            _peer(p, field_at(field_at(where, peers_key), j), issues) for j, p in enumerate(peers)
        ]
        parsed_ports = [
            _port(p, field_at(field_at(where, "ports"), j), issues) for j, p in enumerate(ports)
        ]
        out.append(
            Rule(
                tuple(p for p in parsed_peers if p is not None),
                tuple(p for p in parsed_ports if p is not None),
            )
        )
    return tuple(out)


def _peer(raw: Any, at: str, issues: Issues) -> Peer | None:
    obj = json_object(raw, at, issues)
    for key in sorted(set(obj) - {"podSelector", "namespaceSelector", "ipBlock"}, key=str):
        issues.add(field_at(at, str(key)), "unknown key")
    given = [k for k in ("podSelector", "namespaceSelector", "ipBlock") if obj.get(k) is not None]
    if not given:
        issues.add(at, "must give podSelector, namespaceSelector or ipBlock")
        return None
    if "ipBlock" in given and len(given) > 1:
        issues.add(at, "ipBlock cannot be combined with podSelector or namespaceSelector")
        return None
    if "ipBlock" in given:
        block = json_object(obj["ipBlock"], field_at(at, "ipBlock"), issues)
        try:
            cidr = ipaddress.ip_network(str(block.get("cidr")), strict=False)
        except ValueError:
            issues.add(field_at(at, "ipBlock.cidr"), "must be a CIDR such as 10.0.0.0/8")
            return None
        excepts = []
        for k, text in enumerate(block.get("except") or []):
            try:
                net = ipaddress.ip_network(str(text), strict=False)
            except ValueError:
                issues.add(field_at(at, f"ipBlock.except[{k}]"), "must be a CIDR")
                continue
            if net.version != cidr.version or not net.subnet_of(cidr):  # type: ignore[arg-type]
                issues.add(field_at(at, f"ipBlock.except[{k}]"), f"must lie inside cidr {cidr}")
                continue
            excepts.append(net)
        return Peer(ip_block=IpBlock(cidr, tuple(excepts)))
    pods = obj.get("podSelector")
    nss = obj.get("namespaceSelector")
    pod_sel = (
        selectors.parse(pods, field_at(at, "podSelector"), issues) if pods is not None else None
    )
    ns_sel = (
        selectors.parse(nss, field_at(at, "namespaceSelector"), issues) if nss is not None else None
    )
    return Peer(pod_selector=pod_sel, namespace_selector=ns_sel)


def _port(raw: Any, at: str, issues: Issues) -> Port | None:
    obj = json_object(raw, at, issues)
    for key in sorted(set(obj) - {"protocol", "port", "endPort"}, key=str):
        issues.add(field_at(at, str(key)), "unknown key")
    proto = obj.get("protocol") or "TCP"
    if proto not in PROTOCOLS:
        issues.add(field_at(at, "protocol"), f"must be one of {', '.join(PROTOCOLS)}")
        return None
    port, end = obj.get("port"), obj.get("endPort")
    if isinstance(port, bool) or (port is not None and not isinstance(port, int | str)):
        issues.add(field_at(at, "port"), "must be a port number or a port name")
        return None
    if isinstance(port, int) and not 1 <= port <= 65535:
        issues.add(field_at(at, "port"), "must be in 1-65535")
    if isinstance(port, str) and not _PORT_NAME.fullmatch(port):
        issues.add(field_at(at, "port"), f"{port!r} {_PORT_NAME_RULE}")
    if end is not None:
        if not isinstance(port, int):
            issues.add(field_at(at, "endPort"), "needs a numeric port")
        elif not isinstance(end, int) or isinstance(end, bool) or not port <= end <= 65535:
            issues.add(field_at(at, "endPort"), f"must be a port number in {port}-65535")
    return Port(proto, port, end)
