"""How Neutron security groups map onto romana policies and address sets, as pure functions.

Neutron's meaning: a port's security groups are allow-lists, stateful, and their union
applies to the port. What no ingress rule of any of its groups allows does not reach the
port; what no egress rule allows does not leave it. A port with ``port_security_enabled =
false`` (and a port Neutron trusts: ``device_owner`` ``network:*``) is not filtered at all.

romana's rendering, on the tenant of the group's project, a tenant in ``kubernetes``
isolation mode (an endpoint that an ingress policy selects accepts only what such policies
allow; one that an egress policy selects sends only what they allow; established flows pass):

* each group ``G`` is two address sets, ``os.sg.G.v4`` and ``os.sg.G.v6``, holding the
  addresses of the ports that carry ``G`` (:func:`members`), and one policy ``os.sg.G``
  applied to both sets narrowed to the tenant, with one clause per rule
  (:func:`group_policy`). A direction without rules gets a clause naming the always-empty
  set :data:`NOTHING`: the group then selects its ports for that direction and allows
  nothing, as an empty Neutron allow-list does. Several groups on a port are several
  policies selecting it, whose allows add up: Neutron's union;
* ``remote_group_id`` is the peer set of that group and of the rule's ethertype, so the
  rule follows ports coming and going without the policy changing;
  ``remote_ip_prefix`` is a ``cidr`` peer; neither is the whole family (``0.0.0.0/0`` or
  ``::/0``);
* a port without filtering is in ``os.open.N.v4``/``.v6`` of its network ``N``, selected by
  the policy ``os.open.N`` that accepts its own tenant and segment: the isolation romana gives
  a network when no security group applies (:func:`open_policy`);
* a filtered port with no group at all is in ``os.closed.P.*`` of its project ``P``, whose
  policy allows nothing either way, as Neutron drops all of such a port's traffic;
* the networks of one project do not reach each other, as Neutron networks without a router
  do not: each network's segment gets the deny policy ``os.net.N`` naming the project's
  other network segments, except those routers join it to, directly or through other
  routers (:func:`network_isolation`, :func:`routed_together`). Other projects reach a port
  only where one of its groups admits them;
* a router's own ports (``network:router_*``, ``network:floatingip``) are in no selection:
  romana routes, so no traffic is addressed to them.

A rule romana cannot enforce with its exact meaning raises :class:`Unexpressible` naming the
rule and why (:func:`rule_clause`): protocols other than TCP, UDP, SCTP, ICMP and ICMPv6,
``remote_address_group_id``, and stateless groups. Nothing is approximated.

Invariants: every name here depends only on Neutron ids, so recomputing a policy or a set
from Neutron's current state gives the same object again (writes are idempotent); set
members are the ports' fixed addresses as ``/32`` and ``/128``, sorted.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

PREFIX = "os."
NETWORK_PREFIX = f"{PREFIX}net."
NOTHING = "os.none"
"""An address set nobody fills: a clause naming it selects without allowing."""
ANY_OF = {4: "0.0.0.0/0", 6: "::/0"}
ETHERTYPES = {"IPv4": 4, "IPv6": 6}
TRUSTED_OWNER_PREFIX = "network:"
ROUTER_OWNER_PREFIXES = ("network:router_", "network:ha_router_", "network:floatingip")

_PORT_PROTOCOLS = {
    "tcp": "tcp",
    "udp": "udp",
    "sctp": "sctp",
    "6": "tcp",
    "17": "udp",
    "132": "sctp",
}
_ICMP_PROTOCOLS = {"icmp", "1", "icmpv6", "ipv6-icmp", "58"}
_ANY_PROTOCOLS = {None, "", "any"}


class Unexpressible(ValueError):
    """A security group or rule romana cannot enforce with its Neutron meaning."""


@dataclass(frozen=True, slots=True, order=True)
class Membership:
    """One selection of ports: a group's (``sg``), a network's unfiltered ports (``open``) or
    a project's filtered ports without any group (``closed``)."""

    kind: Literal["sg", "open", "closed"]
    ident: str

    @property
    def policy_name(self) -> str:
        return f"{PREFIX}{self.kind}.{self.ident}"

    def set_name(self, version: int) -> str:
        return f"{self.policy_name}.v{version}"

    @property
    def set_names(self) -> tuple[str, str]:
        return self.set_name(4), self.set_name(6)


def group(sg_id: str) -> Membership:
    return Membership("sg", sg_id)


def filtered(port: Mapping[str, Any]) -> bool:
    """Whether Neutron applies security groups to ``port``."""
    if port.get("port_security_enabled") is False:
        return False
    return not str(port.get("device_owner") or "").startswith(TRUSTED_OWNER_PREFIX)


def memberships(port: Mapping[str, Any]) -> frozenset[Membership]:
    """The selections ``port`` belongs to; none for a router's port, which holds no
    endpoint (romana routes, the router's addresses carry no traffic)."""
    if str(port.get("device_owner") or "").startswith(ROUTER_OWNER_PREFIXES):
        return frozenset()
    if not filtered(port):
        return frozenset({Membership("open", str(port["network_id"]))})
    groups = [str(g) for g in port.get("security_groups") or ()]
    if not groups:
        return frozenset({Membership("closed", str(port["project_id"]))})
    return frozenset(map(group, groups))


def members(selection: Membership, ports: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Each set of ``selection`` with the addresses of those of ``ports`` that belong to it."""
    found: dict[int, set[str]] = {4: set(), 6: set()}
    for port in ports:
        if selection not in memberships(port):
            continue
        for fixed in port.get("fixed_ips") or ():
            address = ipaddress.ip_address(fixed["ip_address"])
            found[address.version].add(str(ipaddress.ip_network(address)))
    return {selection.set_name(v): sorted(found[v], key=ipaddress.ip_network) for v in (4, 6)}


def _targets(selection: Membership, tenant: str) -> list[dict[str, str]]:
    return [{"address_set": name, "tenant": tenant} for name in selection.set_names]


def _nothing() -> list[dict[str, Any]]:
    return [{"peers": [{"address_set": NOTHING}], "rules": [{"protocol": "any"}]}]


def group_policy(sg: Mapping[str, Any], tenant: str) -> dict[str, Any]:
    """The policy of security group ``sg`` (with its ``security_group_rules``) on ``tenant``."""
    if sg.get("stateful") is False:
        raise Unexpressible(
            f"security group {sg['id']}: stateless security groups are not supported "
            "(romana accepts established flows first)"
        )
    selection = group(str(sg["id"]))
    clauses: dict[str, list[dict[str, Any]]] = {"ingress": [], "egress": []}
    rules = sorted(sg.get("security_group_rules") or (), key=lambda r: str(r["id"]))
    for rule in rules:
        clauses[str(rule["direction"])].append(rule_clause(rule))
    return {
        "name": selection.policy_name,
        "description": f"Neutron security group {sg.get('name') or ''} ({sg['id']})".strip(),
        "applied_to": _targets(selection, tenant),
        "ingress": clauses["ingress"] or _nothing(),
        "egress": clauses["egress"] or _nothing(),
    }


def open_policy(network_id: str, tenant: str, segment: str) -> dict[str, Any]:
    """The policy of ``network_id``'s unfiltered ports: their own tenant and segment only."""
    selection = Membership("open", network_id)
    own = [{"peers": [{"tenant": tenant, "segment": segment}], "rules": [{"protocol": "any"}]}]
    return {
        "name": selection.policy_name,
        "description": f"Neutron ports without port security on network {network_id}",
        "applied_to": _targets(selection, tenant),
        "ingress": own,
    }


def closed_policy(project_id: str, tenant: str) -> dict[str, Any]:
    """The policy of ``project_id``'s filtered ports that carry no group: nothing passes."""
    selection = Membership("closed", project_id)
    return {
        "name": selection.policy_name,
        "description": f"Neutron ports of project {project_id} without security groups",
        "applied_to": _targets(selection, tenant),
        "ingress": _nothing(),
        "egress": _nothing(),
    }


def routed_together(joined: Iterable[Iterable[str]]) -> dict[str, frozenset[str]]:
    """Each network a router reaches → every network it reaches through routers: the
    networks of one router are joined, and joins chain (``a``–``b`` and ``b``–``c`` join
    ``a`` and ``c``, as traffic routes on through the second router)."""
    reach: dict[str, frozenset[str]] = {}
    for group_ in joined:
        merged = frozenset(group_)
        for network in merged:
            merged |= reach.get(network, frozenset())
        for network in merged:
            reach[network] = merged
    return reach


def network_isolation(
    tenant: str, segments: Iterable[str], joined: Iterable[Iterable[str]] = ()
) -> dict[str, dict[str, Any]]:
    """Deny policies (by name) that keep each network segment of ``tenant`` apart from its
    other network segments, as Neutron networks are unless a router joins them (``joined``:
    the networks of each router); a deny comes before every allow, so no security group rule
    opens one network of a project to another that no router joins it to."""
    held = sorted(set(segments))
    reach = routed_together(joined)
    out: dict[str, dict[str, Any]] = {}
    for segment in held:
        apart = [s for s in held if s != segment and s not in reach.get(segment, ())]
        if not apart:
            continue
        others = [{"tenant": tenant, "segment": s} for s in apart]
        out[f"{NETWORK_PREFIX}{segment}"] = {
            "name": f"{NETWORK_PREFIX}{segment}",
            "description": f"Neutron network {segment}: no router joins it to these",
            "action": "deny",
            "applied_to": [{"tenant": tenant, "segment": segment}],
            "ingress": [{"peers": others, "rules": [{"protocol": "any"}]}],
        }
    return out


def rule_clause(rule: Mapping[str, Any]) -> dict[str, Any]:
    """The clause of one security group rule: its remote as the peer, its protocol and
    ports as the rule."""
    where = f"security group rule {rule.get('id', '')}".rstrip()
    version = ETHERTYPES.get(str(rule.get("ethertype")))
    if version is None:
        raise Unexpressible(f"{where}: ethertype {rule.get('ethertype')!r} is not IPv4 or IPv6")
    if rule.get("remote_address_group_id"):
        raise Unexpressible(f"{where}: remote_address_group_id is not supported")
    return {"peers": [_peer(rule, version)], "rules": [_rule(rule, version, where)]}


def _peer(rule: Mapping[str, Any], version: int) -> dict[str, str]:
    if rule.get("remote_group_id"):
        return {"address_set": group(str(rule["remote_group_id"])).set_name(version)}
    prefix = rule.get("remote_ip_prefix")
    return {"cidr": str(ipaddress.ip_network(prefix, strict=False)) if prefix else ANY_OF[version]}


def _rule(rule: Mapping[str, Any], version: int, where: str) -> dict[str, Any]:
    raw = rule.get("protocol")
    protocol = None if raw is None else str(raw).lower()
    low, high = rule.get("port_range_min"), rule.get("port_range_max")
    if protocol in _ANY_PROTOCOLS:
        return {"protocol": "any"}
    if protocol in _PORT_PROTOCOLS:
        out: dict[str, Any] = {"protocol": _PORT_PROTOCOLS[protocol]}
        if low is not None:
            high = low if high is None else high
            out.update({"ports": [low]} if low == high else {"port_ranges": [[low, high]]})
        return out
    if protocol in _ICMP_PROTOCOLS:
        # Neutron's "icmp" under IPv6 is ICMPv6; its port range is the ICMP type and code.
        out = {"protocol": "icmp" if version == 4 else "icmpv6"}
        if low is not None:
            out["icmp_type"] = low
            if high is not None:
                out["icmp_code"] = high
        return out
    raise Unexpressible(
        f"{where}: protocol {raw!r} is not supported (romana filters tcp, udp, sctp, icmp, "
        "ipv6-icmp and any)"
    )
