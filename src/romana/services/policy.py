"""Policy use cases: add, list, get and remove Romana policies; the revision agents converge on.

A policy is stored as its normalised Romana policy JSON (v1 or v2 shape) with a string
``id`` at ``policies/<id>``. Every change also rewrites ``policy-generation`` in the same
transaction, so the mod revision of that key is the *policy revision*: an agent that has
enforced the policies read at revision R is converged while ``revision() <= R``.

Invariants:

* Validation reports every problem of every policy of a request at once (field paths
  ``[i].ingress[0].rules[1].ports``), and a request with any problem stores nothing.
* An id absent from the input is derived from the policy's content, so posting the same
  policy twice yields the same id and one stored policy. Posting different content under an
  existing id is AlreadyExists; remove the old policy first.
* :func:`validate` is the only place that knows the policy language.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Any

from romana.core.errors import AlreadyExists, Issues, NotFound
from romana.core.store import Delete, Put, Store
from romana.services import keys, txn

GENERATION = keys.ROOT + "policy-generation"
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,252}$")

_POLICY_KEYS = {"id", "name", "description", "direction", "external_id", "applied_to", "ingress"}
_ENDPOINT_KEYS = {
    "peer",
    "cidr",
    "dest",
    "tenant",
    "tenant_id",
    "tenant_external_id",
    "tenant_network_id",
    "segment",
    "segment_id",
    "segment_external_id",
    "segment_network_id",
}
_TENANT_KEYS = ("tenant", "tenant_id", "tenant_external_id", "tenant_network_id")
_SEGMENT_KEYS = ("segment", "segment_id", "segment_external_id", "segment_network_id")
_RULE_KEYS = {"protocol", "ports", "port_ranges", "icmp_type", "icmp_code", "is_stateful"}
_PROTOCOLS = ("tcp", "udp", "icmp", "any")
_ICMP_CODE_MAX = {3: 15, 4: 0, 5: 3, 11: 1}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_endpoint(raw: object, where: str, issues: Issues, *, target: bool) -> dict[str, Any]:
    if not isinstance(raw, dict):
        issues.add(where, "must be an object")
        return {}
    for key in sorted(set(raw) - _ENDPOINT_KEYS):
        issues.add(f"{where}.{key}", "is not a known endpoint field")
    out = dict(raw)
    if raw.get("peer", "") not in ("", "any", "host", "local"):
        issues.add(f"{where}.peer", "must be one of any, host, local")
    if raw.get("dest", "") not in ("", "local", "host"):
        issues.add(f"{where}.dest", "must be one of local, host")
    if "cidr" in raw:
        try:
            out["cidr"] = str(ipaddress.ip_network(str(raw["cidr"]), strict=False))
        except ValueError:
            issues.add(f"{where}.cidr", "must be a CIDR such as 10.1.0.0/16")
    has_tenant = any(raw.get(k) not in (None, "") for k in _TENANT_KEYS)
    if any(raw.get(k) not in (None, "") for k in _SEGMENT_KEYS) and not has_tenant:
        issues.add(where, "a segment needs a tenant")
    if target and not has_tenant and raw.get("dest") in (None, ""):
        issues.add(where, "must name a tenant or a dest")
    if not target and not has_tenant and not raw.get("peer") and "cidr" not in raw:
        issues.add(where, "must name a peer, a cidr or a tenant")
    return out


def _check_ports(rule: dict[str, Any], where: str, issues: Issues) -> None:
    ports = rule.get("ports", [])
    if not isinstance(ports, list) or not all(_is_int(p) for p in ports):
        issues.add(f"{where}.ports", "must be a list of integers")
    else:
        bad = [str(p) for p in ports if not 0 <= p <= 65535]
        if bad:
            issues.add(f"{where}.ports", f"invalid ports (0-65535): {', '.join(bad)}")
    ranges = rule.get("port_ranges", [])
    if not isinstance(ranges, list) or not all(
        isinstance(r, list) and len(r) == 2 and all(_is_int(x) for x in r) for r in ranges
    ):
        issues.add(f"{where}.port_ranges", "must be a list of [low, high] integer pairs")
    else:
        bad = [f"{lo}-{hi}" for lo, hi in ranges if not 0 <= lo <= hi <= 65535]
        if bad:
            issues.add(f"{where}.port_ranges", f"invalid port ranges: {', '.join(bad)}")


def _check_rule(raw: object, where: str, issues: Issues) -> dict[str, Any]:
    if not isinstance(raw, dict):
        issues.add(where, "must be an object")
        return {}
    for key in sorted(set(raw) - _RULE_KEYS):
        issues.add(f"{where}.{key}", "is not a known rule field")
    rule = dict(raw)
    proto = raw.get("protocol")
    if not isinstance(proto, str) or not proto:
        issues.add(f"{where}.protocol", "is required")
        return rule
    rule["protocol"] = proto = proto.lower()
    if proto not in _PROTOCOLS:
        issues.add(f"{where}.protocol", f"must be one of {', '.join(_PROTOCOLS)}")
    if "is_stateful" in raw and not isinstance(raw["is_stateful"], bool):
        issues.add(f"{where}.is_stateful", "must be true or false")
    icmp = [k for k in ("icmp_type", "icmp_code") if k in raw]
    if proto == "icmp":
        if raw.get("ports") or raw.get("port_ranges"):
            issues.add(where, "an icmp rule has no ports")
        itype, icode = raw.get("icmp_type", 0), raw.get("icmp_code", 0)
        if not _is_int(itype) or not 0 <= itype <= 255:
            issues.add(f"{where}.icmp_type", "must be an integer 0-255")
        elif not _is_int(icode) or not 0 <= icode <= _ICMP_CODE_MAX.get(itype, 0):
            issues.add(
                f"{where}.icmp_code",
                f"must be 0-{_ICMP_CODE_MAX.get(itype, 0)} for icmp type {itype}",
            )
    else:
        for key in icmp:
            issues.add(f"{where}.{key}", f"only icmp rules have {key}, not {proto}")
        _check_ports(rule, where, issues)
    return rule


def validate(raw: object, where: str = "") -> dict[str, Any]:
    """One Romana policy (v1 or v2 shape) → its normalised JSON; InvalidInput lists every issue."""
    issues = Issues()
    policy = _check_policy(raw, where, issues)
    issues.raise_if_any()
    return policy


def _check_policy(raw: object, where: str, issues: Issues) -> dict[str, Any]:
    at = f"{where}." if where else ""
    if not isinstance(raw, dict):
        issues.add(where, "a policy must be a JSON object")
        return {}
    for key in sorted(set(raw) - _POLICY_KEYS):
        issues.add(f"{at}{key}", "is not a known policy field")
    policy: dict[str, Any] = dict(raw)
    if "id" in raw:
        if not isinstance(raw["id"], str | int) or isinstance(raw["id"], bool):
            issues.add(f"{at}id", "must be a string or an integer")
        elif not ID_RE.match(str(raw["id"])):
            issues.add(f"{at}id", "must be 1-253 characters of letters, digits and _ . : -")
        else:
            policy["id"] = str(raw["id"])
    for key in ("name", "description", "external_id"):
        if key in raw and not isinstance(raw[key], str):
            issues.add(f"{at}{key}", "must be a string")
    direction = raw.get("direction", "ingress")
    if not isinstance(direction, str) or direction.lower() not in ("ingress", "egress"):
        issues.add(f"{at}direction", "must be ingress or egress")
    else:
        policy["direction"] = direction.lower()
    applied = raw.get("applied_to")
    if not isinstance(applied, list) or not applied:
        issues.add(f"{at}applied_to", "must be a non-empty list of endpoints")
    else:
        policy["applied_to"] = [
            _check_endpoint(e, f"{at}applied_to[{i}]", issues, target=True)
            for i, e in enumerate(applied)
        ]
    ingress = raw.get("ingress")
    if not isinstance(ingress, list) or not ingress:
        issues.add(f"{at}ingress", "must be a non-empty list of {peers, rules}")
        return policy
    entries = []
    for i, entry in enumerate(ingress):
        here = f"{at}ingress[{i}]"
        if not isinstance(entry, dict):
            issues.add(here, "must be an object with peers and rules")
            continue
        for key in sorted(set(entry) - {"peers", "rules"}):
            issues.add(f"{here}.{key}", "is not a known field")
        peers, rules = entry.get("peers"), entry.get("rules")
        if not isinstance(peers, list) or not peers:
            issues.add(f"{here}.peers", "must be a non-empty list")
            peers = []
        if not isinstance(rules, list) or not rules:
            issues.add(f"{here}.rules", "must be a non-empty list")
            rules = []
        entries.append(
            {
                "peers": [
                    _check_endpoint(p, f"{here}.peers[{j}]", issues, target=False)
                    for j, p in enumerate(peers)
                ],
                "rules": [
                    _check_rule(r, f"{here}.rules[{j}]", issues) for j, r in enumerate(rules)
                ],
            }
        )
    policy["ingress"] = entries
    return policy


def content_id(policy: Mapping[str, Any]) -> str:
    """The id of a policy that came without one: a digest of its normalised content."""
    body = {k: v for k, v in policy.items() if k != "id"}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
    return digest.hexdigest()[:16]


def tenants_of(policy: Mapping[str, Any]) -> set[str]:
    """The tenants a policy is applied to, by name (v1 ``tenant``, v2 ``tenant_id``)."""
    names = set()
    for endpoint in policy.get("applied_to", []):
        for key in ("tenant", "tenant_id"):
            value = endpoint.get(key)
            if isinstance(value, str) and value:
                names.add(value)
    return names


def applies_only_to(policy: Mapping[str, Any], tenant: str) -> bool:
    """True when every target of the policy is inside ``tenant``."""
    return all(
        any(e.get(k) == tenant for k in ("tenant", "tenant_id"))
        for e in policy.get("applied_to", [])
    )


class PolicyService:
    def __init__(self, store: Store) -> None:
        self._store = store

    def parse(self, body: object) -> list[dict[str, Any]]:
        """Validate one policy or a list of them; ids filled in. Every issue at once."""
        items = body if isinstance(body, list) else [body]
        issues = Issues()
        if not items:
            issues.add("", "expected a policy or a non-empty list of policies")
        policies = []
        for i, item in enumerate(items):
            where = f"[{i}]" if isinstance(body, list) else ""
            policy = _check_policy(item, where, issues)
            if isinstance(item, dict) and "id" not in item:
                policy["id"] = content_id(policy)
            policies.append(policy)
        seen: dict[str, int] = {}
        for i, policy in enumerate(policies):
            pid = policy.get("id")
            if isinstance(pid, str) and pid in seen:
                issues.add(f"[{i}].id", f"repeats the id of [{seen[pid]}]")
            elif isinstance(pid, str):
                seen[pid] = i
        issues.raise_if_any()
        return policies

    def add(self, body: object) -> list[dict[str, Any]]:
        """Store one policy or a list, all or nothing; re-adding identical content is a no-op."""
        policies = self.parse(body)

        def attempt(w: txn.Writes) -> list[dict[str, Any]]:
            for policy in policies:
                key = keys.policy(policy["id"])
                kv = self._store.get(key)
                if kv is not None:
                    if txn.loads(kv) != policy:
                        raise AlreadyExists(
                            f"policy {policy['id']!r} already exists with other content; "
                            "remove it first"
                        )
                    continue
                w.guard(key, None)
                w.ops.append(Put(key, txn.dumps(policy)))
            if w.ops:
                w.ops.append(Put(GENERATION, b"{}"))
            return policies

        return txn.run(self._store, attempt, what="add policies")

    def get(self, pid: str) -> dict[str, Any]:
        kv = self._store.get(keys.policy(pid))
        if kv is None:
            raise NotFound(f"policy {pid!r} does not exist")
        result: dict[str, Any] = txn.loads(kv)
        return result

    def list_all(self) -> list[dict[str, Any]]:
        return txn.loads_all(self._store.range(keys.POLICIES).items)

    def remove(self, pid: str) -> dict[str, Any]:
        def attempt(w: txn.Writes) -> dict[str, Any]:
            kv = self._store.get(keys.policy(pid))
            if kv is None:
                raise NotFound(f"policy {pid!r} does not exist")
            w.guard(keys.policy(pid), kv)
            w.ops.append(Delete(keys.policy(pid)))
            w.ops.append(Put(GENERATION, b"{}"))
            result: dict[str, Any] = txn.loads(kv)
            return result

        return txn.run(self._store, attempt, what=f"remove policy {pid!r}")

    def revision(self) -> int:
        """The store revision of the last policy change (0: never changed)."""
        kv = self._store.get(GENERATION)
        return kv.mod_revision if kv else 0
