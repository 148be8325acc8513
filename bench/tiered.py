"""The 100 ClusterNetworkPolicies ``bench.dataplane`` loads on top of its 2,000 policies.

A ClusterNetworkPolicy reaches an agent as a *tiered* Romana policy (tier ``admin`` or
``baseline``, a priority, clauses each with its own action; :mod:`romana.core.policy.tiers`)
plus the address sets its pod selectors became. This module writes those directly, as romanad
stores them: 50 Admin and 50 Baseline policies (ids ``kube.cnp:bench-…``) and the
``kube.bench-…`` address sets they name, in the shapes a cluster admin writes — subjects by
namespace (tenant: one masked match each) and by pod selector (address set); peers by
namespace, segment, CIDR and pod selector; ports and port ranges; allow, deny and pass; both
directions.

Invariants, so that the measured figure is the cost of judging the benchmark's flow and not
of dropping it:

* Most subjects hold the measured flow's endpoints: the flow walks every policy's subject
  chain and, where it is a subject, every rule of that policy.
* No clause ever matches the measured flow (TCP between the two endpoints of one tenant to a
  port in :attr:`Flow.ports`) except the last Baseline policy's same-tenant allow: a rule
  naming the flow's tenant opens or closes other ports; denies and passes name other
  tenants, CIDRs outside the flow's addresses, or address sets without them. So the flow
  falls through the Admin tier (no pass cuts it short), is judged by the ordinary policies,
  and falls through the Baseline tier to that allow.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.policyload import TENANTS, tenant
from romana.agent import view
from romana.core import addressing

PER_TIER = 50
"""Admin policies, and as many Baseline ones."""
LOAD = f"{2 * PER_TIER} ClusterNetworkPolicies ({PER_TIER} Admin, {PER_TIER} Baseline)"
"""The load as the benchmark's rows name it."""
ID_PREFIX = "kube.cnp:bench-"
FRONTENDS = "kube.bench-frontends"
"""A pod selection holding the measured flow's two endpoints (a subject)."""
BATCH = "kube.bench-batch"
MONITORING = "kube.bench-monitoring"
UNTRUSTED = "kube.bench-untrusted"
NODES = "kube.bench-nodes"
"""Selections of other pods (and of nodes): subjects and peers that never hold the flow."""
OTHERS = {
    BATCH: [f"10.254.1.{i}/32" for i in range(1, 41)],
    MONITORING: [f"10.254.2.{i}/32" for i in range(1, 9)],
    UNTRUSTED: [f"10.254.3.{i}/32" for i in range(1, 25)] + ["100.64.0.0/16"],
    NODES: [f"198.18.0.{i}/32" for i in range(1, 17)],
}
FRONTEND_OTHERS = [f"10.254.0.{i}/32" for i in range(1, 31)]
LOW = [[1, 1023]]
"""Privileged ports: below every port the flow uses."""
OPEN_PORTS = (10256, 60999)
"""The ports no rule names (the highest single port named is 10255; ranges start at 61000):
the measured flow's ports must lie within."""


@dataclass(frozen=True, slots=True)
class Flow:
    """The measured traffic: TCP from ``src`` to ``dst``, both endpoints of ``tenant`` in
    ``segment``, to a port in ``ports`` (inclusive)."""

    tenant: str
    segment: str
    src: addressing.IPAddress
    dst: addressing.IPAddress
    ports: tuple[int, int]


def address_sets(flow: Flow) -> dict[str, list[str]]:
    """Every address set the policies name, by name: members as CIDRs."""
    flow_members = [str(ipaddress.ip_network(a)) for a in (flow.src, flow.dst)]
    sets = {FRONTENDS: flow_members + FRONTEND_OTHERS, **OTHERS}
    for name, members in OTHERS.items():
        for member in members:
            network = ipaddress.ip_network(member)
            if any(a in network for a in (flow.src, flow.dst)):
                raise ValueError(f"address set {name}: {member} holds a measured endpoint")
    return sets


def _other(i: int) -> str:
    """A tenant other than the flow's (``bt1``): ``bt2`` … ``bt<TENANTS>``."""
    return tenant(2 + i % (TENANTS - 1))


def _rules(*rules: dict[str, Any]) -> list[dict[str, Any]]:
    return list(rules)


def _tcp(ports: list[int] | None = None, ranges: list[list[int]] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"protocol": "tcp"}
    if ports:
        out["ports"] = ports
    if ranges:
        out["port_ranges"] = ranges
    return out


def _clause(
    action: str, name: str, peers: list[dict[str, Any]], rules: list[dict[str, Any]]
) -> dict[str, Any]:
    return {"action": action, "name": name, "peers": peers, "rules": rules}


def ingress_clauses(flow: Flow, i: int) -> list[dict[str, Any]]:
    """The ingress rules policy ``i`` picks three of: sources by set, tenant, segment, CIDR."""
    own = {"tenant": flow.tenant}
    return [
        _clause("deny", "untrusted", [{"address_set": UNTRUSTED}], _rules({"protocol": "any"})),
        _clause("deny", "no-remote-shell", [{"tenant": _other(i)}, {"tenant": _other(i + 7)}],
                _rules(_tcp([22, 3389]))),
        {**_clause("allow", "scrape", [{"address_set": MONITORING}], _rules(_tcp([9090, 9100]))),
         "targets": [{"address_set": FRONTENDS}]},
        _clause("pass", "delegate-web", [{"tenant": _other(i + 3), "segment": "default"}],
                _rules(_tcp(ranges=[[8000, 8999]]), _tcp([80, 443]))),
        _clause("deny", "external", [{"cidr": "192.0.2.0/24"}, {"cidr": "172.16.0.0/12"}],
                _rules({"protocol": "any"})),
        _clause("allow", "same-ns-dns", [own],
                _rules(_tcp([53]), {"protocol": "udp", "ports": [53]})),
        _clause("deny", "privileged", [{**own, "segment": flow.segment}], _rules(_tcp(ranges=LOW))),
        _clause("pass", "kubelet", [{"address_set": NODES}, {"cidr": "198.51.100.0/24"}],
                _rules(_tcp([10250]), {"protocol": "udp", "port_ranges": [[61000, 65535]]})),
        _clause("deny", "ping-from-outside", [{"cidr": "203.0.113.0/24"}],
                _rules({"protocol": "icmp", "icmp_type": 8})),
    ]  # fmt: skip


def egress_clauses(flow: Flow, i: int) -> list[dict[str, Any]]:
    """The egress rules policy ``i`` picks three of: destinations as for ingress."""
    own = {"tenant": flow.tenant}
    return [
        _clause("deny", "metadata", [{"cidr": "169.254.169.254/32"}], _rules(_tcp([80]))),
        _clause("allow", "dns", [{"tenant": _other(i + 11)}],
                _rules({"protocol": "udp", "ports": [53]}, _tcp([53]))),
        _clause("deny", "smtp-and-smb", [own, {"tenant": _other(i)}], _rules(_tcp([25, 445]))),
        _clause("pass", "to-nodes", [{"address_set": NODES}], _rules(_tcp([10250, 10255]))),
        _clause("deny", "exfiltration", [{"cidr": "203.0.113.0/24"}, {"cidr": "192.0.2.0/24"}],
                _rules({"protocol": "any"})),
        _clause("allow", "databases", [{"tenant": _other(i + 5), "segment": "default"}],
                _rules(_tcp([5432, 3306, 6379]))),
        _clause("deny", "untrusted", [{"address_set": UNTRUSTED}], _rules({"protocol": "any"})),
        _clause("pass", "high-ports", [{"cidr": "10.0.0.0/8"}],
                _rules(_tcp(ranges=[[61000, 65535]]))),
        _clause("deny", "privileged", [{**own, "segment": flow.segment}], _rules(_tcp(ranges=LOW))),
    ]  # fmt: skip


def _subject(flow: Flow, i: int) -> list[dict[str, Any]]:
    """Policy ``i``'s subject: in one policy of five a pod selection (holding the flow's
    endpoints in every other one), else one to eight namespaces, the flow's among them but in
    one policy of ten."""
    if i % 5 == 4:
        return [{"address_set": FRONTENDS if i % 10 == 4 else BATCH}]
    others = [{"tenant": _other(i * 13 + k)} for k in range(i % 8)]
    if i % 10 == 7:
        return others or [{"tenant": _other(i)}]
    return [{"tenant": flow.tenant}, *others]


def _pick(clauses: list[dict[str, Any]], i: int) -> list[dict[str, Any]]:
    return [clauses[(i + k) % len(clauses)] for k in range(3)]


def _policy(flow: Flow, tier: str, i: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": f"{ID_PREFIX}{tier}-{i:02d}",
        "name": f"{ID_PREFIX}{tier}-{i:02d}",
        "description": f"ClusterNetworkPolicy bench-{tier}-{i:02d} (bench.tiered)",
        "tier": tier,
        "priority": 10 + 20 * i,
        "applied_to": _subject(flow, i),
    }
    if i % 7 != 1:  # one policy in seven is egress only, one other ingress only
        out["ingress"] = _pick(ingress_clauses(flow, i), i)
    if i % 7 != 0:
        out["egress"] = _pick(egress_clauses(flow, i), i)
    return out


def policies(flow: Flow) -> list[dict[str, Any]]:
    """The 50 Admin and 50 Baseline policies as romanad stores them (``id`` beside the
    canonical document). The last Baseline policy, evaluated last, also opens the flow's
    tenant to itself in both directions: the one rule the measured flow matches."""
    lo, hi = flow.ports
    if not OPEN_PORTS[0] <= lo <= hi <= OPEN_PORTS[1]:
        raise ValueError(
            f"flow ports {lo}-{hi}: the rules name ports outside {OPEN_PORTS[0]}-{OPEN_PORTS[1]} "
            "only, so the measured flow must stay inside it"
        )
    admin = [_policy(flow, "admin", i) for i in range(PER_TIER)]
    baseline = [_policy(flow, "baseline", i) for i in range(PER_TIER)]
    last = baseline[-1]
    own = {"tenant": flow.tenant}
    same = _clause("allow", "same-namespace", [own], [{"protocol": "any"}])
    if own not in last["applied_to"]:
        last["applied_to"] = [own, *last["applied_to"]]
    for direction in ("ingress", "egress"):
        last[direction] = [*last.get(direction, []), same]
    return admin + baseline


def with_tiers(hv: view.HostView, flow: Flow) -> view.HostView:
    """``hv`` with the 100 tiered policies and their address sets, as romanad would send it."""
    sets: dict[str, tuple[addressing.IPNetwork, ...]] = dict(hv.address_sets)
    for name, members in address_sets(flow).items():
        sets[name] = tuple(ipaddress.ip_network(m) for m in members)
    added: tuple[Mapping[str, Any], ...] = tuple(policies(flow))
    return dataclasses.replace(hv, policies=(*hv.policies, *added), address_sets=sets)
