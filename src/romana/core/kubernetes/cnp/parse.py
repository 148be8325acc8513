"""A ClusterNetworkPolicy document (the API's JSON shape) into a frozen policy, or refused.

The shape is ``policy.networking.k8s.io`` ``v1alpha2`` (bundle v0.2.0), which ``v1beta1``
keeps unchanged; both apiVersions are read alike. A document is refused whole with
:class:`InvalidInput` naming every problem found, each at its field path
(``spec.egress[2].to[0].networks[1]``) with the rule it breaks. Checked, as the CRD's
OpenAPI schema and CEL rules check them:

* ``metadata.name`` a DNS subdomain (lowercase letters, digits, ``-`` and ``.``, at most 253
  characters), as the API server requires of every custom resource's name;
* ``spec.tier`` Admin or Baseline; ``spec.priority`` an integer 0-1000; ``spec.subject``
  exactly one of ``namespaces`` or ``pods`` (``pods`` needs ``podSelector``; its
  ``namespaceSelector`` may be left out: every namespace);
* at most 25 ingress and 25 egress rules; a rule's ``action`` Accept, Deny or Pass, its
  ``name`` at most 100 characters, ``from``/``to`` 1-25 peers, ``protocols`` (when given)
  1-25 entries;
* a peer gives exactly one kind: ingress ``namespaces`` or ``pods``; egress also ``nodes``,
  ``networks`` (1-25 distinct CIDRs, at most 43 characters, each as the API server's CEL
  ``isCIDR`` reads one: an address, ``/`` and a decimal prefix length — no netmask, no IPv6
  zone, no IPv4-mapped IPv6 address, no leading zeros; in ``v1beta1`` with host bits clear,
  its rule ``cidr(self) == cidr(self).masked()``) or ``domainNames`` (1-25 distinct names of
  the CRD's pattern, ``*.`` allowed as a prefix);
* a ``protocols`` entry gives exactly one of ``tcp``, ``udp``, ``sctp`` (each with a
  ``destinationPort`` of exactly one of ``number`` 1-65535 or ``range`` with
  ``start < end``) or ``destinationNamedPort``; an egress rule with a ``networks``,
  ``nodes`` or ``domainNames`` peer may not name a port (the CRD's CEL rule: they have no
  named ports).

``v1alpha1`` is refused by name rather than read: its AdminNetworkPolicy and
BaselineAdminNetworkPolicy differ from ``v1alpha2`` in shape and meaning (an ``Allow`` that
is final in the baseline, priorities of another range), so reading them as ``v1alpha2``
would enforce something their author did not write. Such a document's refusal names only
its ``apiVersion``, ``kind`` and ``metadata.name``: the ``v1alpha2`` rules its ``spec``
breaks would only restate that it is another API. The ``v1alpha1`` spellings in a
``v1alpha2`` document (a rule's ``ports``, the action ``Allow``) are refused with their
``v1alpha2`` replacement named.

What the API server accepts is never refused, though romana cannot enforce all of it: a
policy refused whole would drop its Deny rules with it. Such parts are read as follows, each
with a note (:attr:`model.ClusterNetworkPolicy.notes`) that a sync reports:

* a ``v1alpha2`` CIDR with host bits set (its CRD checks only ``isCIDR``) is taken masked,
  ``10.1.2.3/8`` as ``10.0.0.0/8``, as the API server's own CIDR type reads it;
* a ``domainNames`` peer (experimental upstream) needs a DNS-aware dataplane romana does not
  have. The API answers what an implementation that cannot read a peer does: it fails
  closed, "for Accept rules [...] treat the rule as matching no traffic. For Deny and Pass
  rules [...] treat the rule as a 'Deny all' rule". So in an Accept rule the peer matches
  nothing (a :class:`Peer` with ``domain_names``: the rule's other peers still match), and a
  Deny or Pass rule with such a peer becomes a Deny of every address (its protocols kept).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from romana.core.errors import InvalidInput, Issues
from romana.core.kubernetes.cnp import model, readers
from romana.core.kubernetes.cnp.model import Action, Direction, Peer, Pods, PortMatch, Rule
from romana.core.kubernetes.service import json_object
from romana.core.policy import selectors

GROUP = "policy.networking.k8s.io"
API_VERSIONS = (f"{GROUP}/v1alpha2", f"{GROUP}/v1beta1")
KIND = "ClusterNetworkPolicy"
V1ALPHA1 = f"{GROUP}/v1alpha1"
V1ALPHA1_KINDS = ("AdminNetworkPolicy", "BaselineAdminNetworkPolicy")
"""The kinds of ``v1alpha1``, which :data:`KIND` replaces."""

_PEER_KINDS = {
    Direction.INGRESS: ("namespaces", "pods"),
    Direction.EGRESS: ("namespaces", "pods", "nodes", "networks", "domainNames"),
}
_V1BETA1 = f"{GROUP}/v1beta1"
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_MAX_NAME = 253
_EVERY_ADDRESS = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))


def parse(raw: Mapping[str, Any]) -> model.ClusterNetworkPolicy:
    """The policy ``raw`` describes; :class:`InvalidInput` naming every problem otherwise."""
    issues = Issues()
    if raw.get("apiVersion") == V1ALPHA1:
        issues.add(
            "apiVersion",
            f"{V1ALPHA1} is not supported (its policies differ in shape and meaning); write a "
            f"{KIND} of {API_VERSIONS[0]}",
        )
    elif raw.get("apiVersion") not in API_VERSIONS:
        issues.add("apiVersion", f"must be one of {', '.join(API_VERSIONS)}")
    if raw.get("kind") in V1ALPHA1_KINDS:
        into = model.Tier.ADMIN if raw.get("kind") == V1ALPHA1_KINDS[0] else model.Tier.BASELINE
        issues.add(
            "kind",
            f"{raw.get('kind')} is not supported: write a {KIND} with spec.tier {into} instead",
        )
    elif raw.get("kind") != KIND:
        issues.add("kind", f"must be {KIND}")
    meta = json_object(raw.get("metadata"), "metadata", issues)
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        issues.add("metadata.name", "must be a non-empty name")
        name = ""
    elif len(name) > _MAX_NAME or not _DNS_SUBDOMAIN.match(name):
        issues.add(
            "metadata.name",
            f"{name!r} is not a DNS subdomain name: lowercase letters, digits, '-' and '.', "
            f"starting and ending with a letter or digit, at most {_MAX_NAME} characters",
        )
    if raw.get("apiVersion") == V1ALPHA1 or raw.get("kind") in V1ALPHA1_KINDS:
        raise InvalidInput(list(issues), context=f"invalid {KIND} {name!r}".replace(" ''", ""))
    spec = json_object(raw.get("spec"), "spec", issues)
    if "spec" not in raw:
        issues.add("spec", "is required")
    readers.unknown(spec, ("tier", "priority", "subject", "ingress", "egress"), "spec", issues)
    tier = spec.get("tier")
    if tier not in [str(t) for t in model.Tier]:
        issues.add("spec.tier", "must be Admin or Baseline")
    priority = spec.get("priority")
    if not readers.within(priority, model.MIN_PRIORITY, model.MAX_PRIORITY):
        issues.add(
            "spec.priority",
            f"must be an integer {model.MIN_PRIORITY}-{model.MAX_PRIORITY} (lower applies first)",
        )
    subject = _subject(spec.get("subject"), issues)
    reading = readers.Reading(mask=raw.get("apiVersion") != _V1BETA1)
    ingress = _rules(spec.get("ingress"), Direction.INGRESS, issues, reading)
    egress = _rules(spec.get("egress"), Direction.EGRESS, issues, reading)
    if issues:
        raise InvalidInput(list(issues), context=f"invalid {KIND} {name!r}".replace(" ''", ""))
    assert subject is not None and isinstance(priority, int)
    return model.ClusterNetworkPolicy(
        name=model.PolicyName(name),
        tier=model.Tier(str(tier)),
        priority=priority,
        subject=subject,
        ingress=ingress,
        egress=egress,
        uid=str(meta.get("uid") or ""),
        notes=tuple(reading.notes),
    )


def _selector(raw: Any, at: str, issues: Issues) -> selectors.Selector | None:
    return selectors.parse(raw, at, issues)


def _pods(raw: Any, at: str, issues: Issues) -> Pods | None:
    obj = json_object(raw, at, issues)
    readers.unknown(obj, ("namespaceSelector", "podSelector"), at, issues)
    if "podSelector" not in obj:
        issues.add(readers.field_at(at, "podSelector"), "is required ({} selects every pod)")
        return None
    pods = _selector(obj["podSelector"], readers.field_at(at, "podSelector"), issues)
    namespaces: selectors.Selector | None = selectors.EVERYTHING
    if obj.get("namespaceSelector") is not None:
        namespaces = _selector(
            obj["namespaceSelector"], readers.field_at(at, "namespaceSelector"), issues
        )
    if pods is None or namespaces is None:
        return None
    return Pods(namespaces, pods)


def _subject(raw: Any, issues: Issues) -> Pods | None:
    if raw is None:
        issues.add("spec.subject", "is required (namespaces or pods)")
        return None
    obj = json_object(raw, "spec.subject", issues)
    kind = readers.one_of(obj, ("namespaces", "pods"), "spec.subject", issues)
    if kind == "namespaces":
        namespaces = _selector(obj["namespaces"], "spec.subject.namespaces", issues)
        return None if namespaces is None else Pods(namespaces)
    if kind == "pods":
        return _pods(obj["pods"], "spec.subject.pods", issues)
    return None


def _rules(
    raw: Any, direction: Direction, issues: Issues, reading: readers.Reading
) -> tuple[Rule, ...]:
    at = f"spec.{direction}"
    if raw is None:
        return ()
    items = readers.listed(raw, at, issues, least=0, most=model.MAX_RULES, what="rules")
    rules = [
        _rule(item, i, direction, readers.field_at(at, i), issues, reading)
        for i, item in enumerate(items or [])
    ]
    return tuple(r for r in rules if r is not None)


def _rule(
    raw: Any, index: int, direction: Direction, at: str, issues: Issues, reading: readers.Reading
) -> Rule | None:
    obj = json_object(raw, at, issues)
    peers_key = "from" if direction is Direction.INGRESS else "to"
    known = ("name", "action", peers_key, "protocols")
    readers.unknown({k: v for k, v in obj.items() if k != "ports"}, known, at, issues)
    if "ports" in obj:
        issues.add(
            readers.field_at(at, "ports"),
            "unknown key: ports is v1alpha1's (AdminNetworkPolicy); write protocols, such as "
            "[{tcp: {destinationPort: {number: 80}}}] or [{destinationNamedPort: web}]",
        )
    name = obj.get("name", "")
    if not isinstance(name, str) or len(name) > model.MAX_RULE_NAME:
        issues.add(
            readers.field_at(at, "name"),
            f"must be text of at most {model.MAX_RULE_NAME} characters",
        )
        name = ""
    action = obj.get("action")
    if action not in [str(a) for a in Action]:
        hint = " (v1alpha1's Allow is written Accept)" if action == "Allow" else ""
        issues.add(
            readers.field_at(at, "action"),
            f"{action!r} is not an action: Accept, Deny or Pass{hint}",
        )
    peers: list[Peer | None] = []
    if peers_key not in obj:
        issues.add(readers.field_at(at, peers_key), "is required: at least one peer")
    else:
        where = readers.field_at(at, peers_key)
        items = readers.listed(
            obj[peers_key], where, issues, least=1, most=model.MAX_PEERS, what="peers"
        )
        peers = [
            _peer(p, direction, readers.field_at(where, j), issues, reading)
            for j, p in enumerate(items or [])
        ]
    ports: list[PortMatch | None] = []
    if "protocols" in obj:
        where = readers.field_at(at, "protocols")
        items = readers.listed(
            obj["protocols"], where, issues, least=1, most=model.MAX_PROTOCOLS, what="protocols"
        )
        ports = [
            readers.protocol(p, readers.field_at(where, j), issues)
            for j, p in enumerate(items or [])
        ]
    named = any(p is not None and p.name for p in ports)
    if named and any(p is not None and p.pods is None for p in peers):
        issues.add(
            at,
            "a destinationNamedPort cannot be used with networks or nodes peers: they have "
            "no named ports",
        )
    if action not in [str(a) for a in Action] or None in peers or None in ports:
        return None
    kept = tuple(p for p in peers if p is not None)
    if any(p.domain_names for p in kept) and action != Action.ACCEPT:
        # The API's fail-closed for a peer an implementation cannot read (see the module): a
        # Deny or Pass rule becomes "Deny all". Matching nothing instead would let through
        # what a Deny was written to stop, and skipping a Pass would let later rules of the
        # tier decide what the author handed on.
        reading.notes.append(
            f"{at}: a {action} rule with a domainNames peer, which romana cannot enforce, "
            "fails closed as the API asks: it denies every destination"
            + (" on its protocols" if ports else "")
        )
        action, kept = Action.DENY, (Peer(networks=_EVERY_ADDRESS),)
    elif any(p.domain_names for p in kept):
        reading.notes.append(
            f"{at}: its domainNames peer matches nothing: romana cannot enforce domain names "
            "(it has no DNS-aware dataplane)"
            + ("; the rule's other peers apply" if any(not p.domain_names for p in kept) else "")
        )
    return Rule(
        index=index,
        action=Action(action),
        peers=kept,
        ports=tuple(p for p in ports if p is not None),
        name=name,
    )


def _peer(
    raw: Any, direction: Direction, at: str, issues: Issues, reading: readers.Reading
) -> Peer | None:
    obj = json_object(raw, at, issues)
    kinds = _PEER_KINDS[direction]
    invalid = [k for k in ("nodes", "networks", "domainNames") if k in obj and k not in kinds]
    for key in invalid:
        issues.add(
            readers.field_at(at, key),
            f"a {key} peer is not valid in {direction} rules (ingress peers: namespaces, pods)",
        )
    readers.unknown({k: v for k, v in obj.items() if k not in invalid}, kinds, at, issues)
    if invalid:
        return None
    kind = readers.one_of(obj, kinds, at, issues)
    where = readers.field_at(at, kind) if kind else at
    if kind == "namespaces":
        namespaces = _selector(obj[kind], where, issues)
        return None if namespaces is None else Peer(pods=Pods(namespaces))
    if kind == "pods":
        pods = _pods(obj[kind], where, issues)
        return None if pods is None else Peer(pods=pods)
    if kind == "nodes":
        nodes = _selector(obj[kind], where, issues)
        return None if nodes is None else Peer(nodes=nodes)
    if kind == "networks":
        networks = readers.networks(obj[kind], where, issues, reading)
        return None if networks is None else Peer(networks=networks)
    if kind == "domainNames":
        names = readers.domain_names(obj[kind], where, issues)
        return None if names is None else Peer(domain_names=names)
    return None
