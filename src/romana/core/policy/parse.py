"""Parse Romana policy JSON (the v1 and v2 shapes) into :mod:`romana.core.policy.model`.

Both shapes normalise to one model:

* identity: v1 ``name`` (or ``external_id``), v2 ``id`` (a string); a v1 integer ``id`` is a
  database id and only identifies nothing on its own;
* clauses: ``ingress: [{peers, rules}]``; with ``direction: egress`` those same clauses are
  egress clauses (v1/v2), and ``egress: [...]`` may be given directly. ``direction`` is
  optional when the keys say it;
* endpoints: ``tenant``/``tenant_id`` as a string name the tenant (v2 uses the Kubernetes
  namespace); an integer ``tenant_id`` or ``tenant_network_id`` is the tenant's id in the
  address (this implementation keeps no separate database id); likewise for segments.
* ``action`` (``allow`` or ``deny``) and ``address_set`` endpoints extend both shapes; in
  ``applied_to`` an ``address_set`` may carry a ``tenant``: the set's members in that tenant.
* the v0.9 shape of Romana's documentation and examples is read too: a policy's own top-level
  ``peers`` and ``rules`` are its one clause (as ``ingress: [{peers, rules}]``, in the policy's
  direction), and a ``{"securitypolicies": [...]}`` wrapper (the key in any case) holds a list.
  A policy giving both top-level and v1 clauses is refused.

Validation follows Romana v1 (``common.Policy.Validate``) and keeps its messages where it had
one, with the field path in front instead of ``Rule #n``. Every problem is reported at once in
one :class:`InvalidInput`; unknown keys are rejected by name. The input is never modified.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from romana.core import addressing
from romana.core.errors import InvalidInput, Issue, Issues
from romana.core.policy import model

_POLICY_KEYS = frozenset(
    {"name", "id", "external_id", "description", "direction", "action", "applied_to"}
    | {"ingress", "egress", "datacenter", "tier", "priority", "peers", "rules"}
)
_CLAUSE_KEYS = frozenset({"peers", "rules"})
_WRAPPER_KEY = "securitypolicies"
_TIERED_CLAUSE_KEYS = _CLAUSE_KEYS | {"action", "name", "targets"}
_RULE_KEYS = frozenset(
    {"protocol", "ports", "port_ranges", "icmp_type", "icmp_code", "is_stateful"}
)
_TENANT_KEYS = ("tenant", "tenant_id", "tenant_external_id", "tenant_network_id")
_ENDPOINT_KEYS = frozenset(
    {"peer", "dest", "cidr", "address_set", "segment", "segment_id", "segment_network_id"}
    | set(_TENANT_KEYS)
)
_PROTOCOLS = frozenset(p.value for p in model.Protocol)
# Romana v1's ICMP code limits: type -> highest code (types not listed take code 0 only).
_ICMP_MAX_CODE = {3: 15, 4: 0, 5: 3, 11: 1}


def policy(raw: object, *, field: str = "") -> model.Policy:
    """Parse one policy object; raise :class:`InvalidInput` listing every problem."""
    issues = Issues("invalid policy")
    parsed = _Parser(issues).policy(raw, field)
    issues.raise_if_any()
    assert parsed is not None
    return parsed


def unwrap(raw: object) -> object:
    """The list a ``{"securitypolicies": [...]}`` document wraps (Romana v0.9's files); any
    other document unchanged. Raise :class:`InvalidInput` for a wrapper that is not only that."""
    if not isinstance(raw, Mapping):
        return raw
    keys = [k for k in raw if isinstance(k, str) and k.lower() == _WRAPPER_KEY]
    if not keys:
        return raw
    issues = Issues("invalid policies")
    for key in sorted(set(raw) - set(keys), key=str):
        issues.add(str(key), f"unknown key beside {keys[0]!r}, which wraps the list of policies")
    for key in keys[1:]:
        issues.add(key, f"wraps the policies a second time (beside {keys[0]!r})")
    if not isinstance(raw[keys[0]], list):
        issues.add(keys[0], "must be a list of policies")
    issues.raise_if_any()
    wrapped: object = raw[keys[0]]
    return wrapped


def policies(raw: object) -> tuple[model.Policy, ...]:
    """Parse a list of policies, or a single policy object (what the Romana CLI accepts), or
    either inside a ``{"securitypolicies": [...]}`` wrapper."""
    raw = unwrap(raw)
    if isinstance(raw, Mapping):
        return (policy(raw),)
    if not isinstance(raw, list):
        raise InvalidInput([Issue("", "must be a policy object or a list of policies")])
    issues = Issues("invalid policies")
    parser = _Parser(issues)
    parsed = [parser.policy(item, f"[{i}]") for i, item in enumerate(raw)]
    seen: set[str] = set()
    for i, p in enumerate(parsed):
        if p is not None and p.name in seen:
            issues.add(f"[{i}].name", f"policy name {p.name!r} is used twice")
        if p is not None:
            seen.add(p.name)
    issues.raise_if_any()
    return tuple(p for p in parsed if p is not None)


def _at(prefix: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    return f"{prefix}.{key}" if prefix else key


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Parser:
    def __init__(self, issues: Issues) -> None:
        self.issues = issues

    def add(self, field: str, rule: str) -> None:
        self.issues.add(field, rule)

    def _count(self) -> int:
        return sum(1 for _ in self.issues)

    def _object(self, raw: object, at: str, keys: frozenset[str]) -> Mapping[str, Any] | None:
        if not isinstance(raw, Mapping):
            self.add(at, "must be an object")
            return None
        for key in sorted(set(raw) - keys, key=str):
            self.add(_at(at, str(key)), "unknown key")
        return raw

    def _list(self, raw: object, at: str, what: str) -> Sequence[Any] | None:
        if not isinstance(raw, list):
            self.add(at, f"must be a list of {what}")
            return None
        if not raw:
            self.add(at, f"must list at least one of {what}")
        return raw

    def _string(self, raw: Mapping[str, Any], key: str, at: str) -> str | None:
        value = raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            self.add(_at(at, key), "must be a non-empty string")
            return None
        return value

    def _choice(self, raw: Mapping[str, Any], key: str, at: str, allowed: tuple[str, ...]) -> str:
        value = raw.get(key)
        if value is None or value == "":
            return ""
        if not isinstance(value, str) or value.lower() not in allowed:
            self.add(_at(at, key), f"must be one of {', '.join(allowed)}")
            return ""
        return value.lower()

    def policy(self, raw: object, at: str) -> model.Policy | None:
        obj = self._object(raw, at, _POLICY_KEYS)
        if obj is None:
            return None
        name, external_id = self._identity(obj, at)
        description = self._string(obj, "description", at) or ""
        tier = self._tier(obj, at)
        action = self._choice(obj, "action", at, ("allow", "deny")) or "allow"
        if tier is not None and "action" in obj:
            self.add(_at(at, "action"), "a tiered policy has no action: each rule gives its own")
        direction = obj.get("direction")
        if direction is not None and (
            not isinstance(direction, str) or direction.lower() not in ("ingress", "egress")
        ):
            message = f"Unknown direction '{direction}', allowed 'egress' or 'ingress'."
            self.add(_at(at, "direction"), message)
        direction = direction.lower() if isinstance(direction, str) else None
        targets = self._targets(obj.get("applied_to"), _at(at, "applied_to"))
        ingress, egress = self._directed_clauses(obj, at, direction, tier is not None)
        if name is None or targets is None or ingress is None or egress is None:
            return None
        return model.Policy(
            name=name,
            applied_to=targets,
            ingress=ingress,
            egress=egress,
            action=model.Action(action),
            description=description,
            external_id=external_id or "",
            tier=tier,
            priority=obj.get("priority", 0) if tier is not None else 0,
        )

    def _tier(self, obj: Mapping[str, Any], at: str) -> model.Tier | None:
        """The policy's tier (None: ordinary) with its priority checked."""
        tier = self._choice(obj, "tier", at, tuple(t.value for t in model.Tier))
        priority = obj.get("priority")
        if not tier:
            if priority is not None:
                self.add(_at(at, "priority"), "only a tiered policy (with 'tier') has a priority")
            return None
        if priority is None:
            self.add(_at(at, "priority"), "a tiered policy needs a priority")
        elif not _is_int(priority) or not model.MIN_PRIORITY <= priority <= model.MAX_PRIORITY:
            self.add(
                _at(at, "priority"),
                f"must be an integer from {model.MIN_PRIORITY} to {model.MAX_PRIORITY}",
            )
        return model.Tier(tier)

    def _identity(self, obj: Mapping[str, Any], at: str) -> tuple[str | None, str | None]:
        """The policy's name (v1 name, v2 string id, or external_id) and its external id."""
        before = self._count()
        name = self._string(obj, "name", at)
        external_id = self._string(obj, "external_id", at)
        raw_id = obj.get("id")
        id_name = raw_id if isinstance(raw_id, str) and raw_id else None
        if raw_id is not None and id_name is None and not _is_int(raw_id):
            self.add(_at(at, "id"), "must be a non-empty string (v2) or an integer (v1)")
        if name is not None and id_name is not None and name != id_name:
            self.add(_at(at, "id"), f"names the policy {id_name!r} but name says {name!r}")
        chosen = name or id_name or external_id
        if chosen is None and self._count() == before:
            # A v1 integer id is a database id: it names nothing on its own.
            self.add(_at(at, "name"), "a policy needs a name, a string id or an external_id")
        return chosen, external_id

    def _directed_clauses(
        self, obj: Mapping[str, Any], at: str, direction: str | None, tiered: bool = False
    ) -> tuple[tuple[model.Clause, ...] | None, tuple[model.Clause, ...] | None]:
        has_ingress, has_egress = "ingress" in obj, "egress" in obj
        if "peers" in obj or "rules" in obj:
            return self._top_level_clause(obj, at, direction, tiered)
        if not has_ingress and not has_egress:
            self.add(_at(at, "ingress"), "Required 'ingress' or 'egress' entry missing.")
            return None, None
        if direction == "egress" and has_ingress:
            if has_egress:
                self.add(
                    _at(at, "egress"),
                    "with direction 'egress' give the clauses in 'ingress' (v1) or in "
                    "'egress', not in both",
                )
                return None, None
            return (), self._clauses(obj["ingress"], _at(at, "ingress"), tiered)
        if direction == "ingress" and has_egress:
            self.add(
                _at(at, "egress"),
                "contradicts direction 'ingress'; leave 'direction' out to give both",
            )
        ingress = self._clauses(obj["ingress"], _at(at, "ingress"), tiered) if has_ingress else ()
        egress = self._clauses(obj["egress"], _at(at, "egress"), tiered) if has_egress else ()
        return ingress, egress

    def _top_level_clause(
        self, obj: Mapping[str, Any], at: str, direction: str | None, tiered: bool
    ) -> tuple[tuple[model.Clause, ...] | None, tuple[model.Clause, ...] | None]:
        """The v0.9 shape: the policy's own ``peers`` and ``rules`` are its one clause."""
        field = _at(at, "peers" if "peers" in obj else "rules")
        v1 = [k for k in ("ingress", "egress") if k in obj]
        if v1:
            self.add(
                field,
                f"top-level peers and rules (the v0.9 shape) and '{v1[0]}' (v1) both give "
                "clauses: give them one way",
            )
            return None, None
        if tiered:
            self.add(field, "a tiered policy gives its rules in 'ingress' or 'egress'")
            return None, None
        clause = self.clause({k: obj.get(k) for k in _CLAUSE_KEYS}, at)
        clauses = (clause,) if clause is not None else None
        return ((), clauses) if direction == "egress" else (clauses, ())

    def _targets(self, raw: object, at: str) -> tuple[model.Endpoint, ...] | None:
        if not isinstance(raw, list) or not raw:
            self.add(at, "Required 'applied_to' entry missing.")
            return None
        parsed = [self.endpoint(item, _at(at, i), target=True) for i, item in enumerate(raw)]
        return tuple(e for e in parsed if e is not None) if all(parsed) else None

    def _clauses(
        self, raw: object, at: str, tiered: bool = False
    ) -> tuple[model.Clause, ...] | None:
        items = self._list(raw, at, "{peers, rules} clauses")
        if items is None:
            return None
        parsed = [self.clause(item, _at(at, i), tiered) for i, item in enumerate(items)]
        return tuple(c for c in parsed if c is not None) if all(parsed) and items else None

    def clause(self, raw: object, at: str, tiered: bool = False) -> model.Clause | None:
        if not tiered and isinstance(raw, Mapping):
            for key in sorted(_TIERED_CLAUSE_KEYS - _CLAUSE_KEYS):
                if key in raw:
                    self.add(
                        _at(at, key), "only the rules of a tiered policy (with 'tier') take it"
                    )
        obj = self._object(raw, at, _TIERED_CLAUSE_KEYS)
        if obj is None:
            return None
        action, name, targets = self._tiered_clause(obj, at) if tiered else (None, "", ())
        peers_raw = self._list(obj.get("peers"), _at(at, "peers"), "peers")
        rules_raw = self._list(obj.get("rules"), _at(at, "rules"), "rules")
        peers = [
            self.endpoint(p, _at(_at(at, "peers"), i), target=False)
            for i, p in enumerate(peers_raw or ())
        ]
        rules = [self.rule(r, _at(_at(at, "rules"), i)) for i, r in enumerate(rules_raw or ())]
        if not peers or not rules or not all(peers) or not all(rules) or targets is None:
            return None
        return model.Clause(
            tuple(p for p in peers if p is not None),
            tuple(r for r in rules if r is not None),
            action,
            name,
            targets,
        )

    def _tiered_clause(
        self, obj: Mapping[str, Any], at: str
    ) -> tuple[model.Action | None, str, tuple[model.Endpoint, ...] | None]:
        """A tiered rule's action (required), name and narrowing targets (address sets)."""
        action = self._choice(obj, "action", at, tuple(a.value for a in model.Action))
        if not action and obj.get("action") in (None, ""):
            self.add(
                _at(at, "action"), "a tiered policy's rule needs an action: allow, deny or pass"
            )
        name = self._string(obj, "name", at) or ""
        if len(name) > model.MAX_RULE_NAME:
            self.add(_at(at, "name"), f"must be at most {model.MAX_RULE_NAME} characters")
        raw = obj.get("targets")
        if raw is None:
            return model.Action(action) if action else None, name, ()
        items = self._list(raw, _at(at, "targets"), "address sets")
        targets = []
        for i, item in enumerate(items or ()):
            where = _at(_at(at, "targets"), i)
            endpoint = self.endpoint(item, where, target=False)
            if endpoint is not None and endpoint.kind is not model.Kind.ADDRESS_SET:
                self.add(where, "a rule's targets are address sets only")
                endpoint = None
            targets.append(endpoint)
        ok = items is not None and all(targets)
        chosen = tuple(t for t in targets if t is not None) if ok else None
        return model.Action(action) if action else None, name, chosen

    def endpoint(self, raw: object, at: str, *, target: bool) -> model.Endpoint | None:
        obj = self._object(raw, at, _ENDPOINT_KEYS)
        if obj is None:
            return None
        before = self._count()
        peer = self._choice(obj, "peer", at, ("any", "host", "local"))
        dest = self._choice(obj, "dest", at, ("local", "host"))
        cidr = self._cidr(obj, at)
        address_set = self._string(obj, "address_set", at)
        tenant = self._tenant(obj, at)
        segment = self._segment(obj, at)
        given = [k for k in ("peer", "dest", "cidr", "address_set") if obj.get(k) not in (None, "")]
        given += ["tenant"] if any(obj.get(k) not in (None, "") for k in _TENANT_KEYS) else []
        if segment is not None and "tenant" not in given:
            self.add(at, "a segment needs a tenant")
        if target and given == ["address_set", "tenant"] and segment is None:
            # A set narrowed to one tenant: its members there (see model.Endpoint).
            given = ["address_set"]
        if len(given) > 1:
            self.add(
                at,
                f"give only one of peer, dest, cidr, tenant, address_set (got {', '.join(given)})",
            )
        elif not given and segment is None:
            self.add(
                at,
                "give one of dest, tenant, address_set"
                if target
                else "give one of peer, cidr, tenant, address_set",
            )
        if target and ("peer" in given or "cidr" in given):
            self.add(at, "applied_to takes dest, tenant (with segment) or address_set")
        if not target and "dest" in given:
            self.add(_at(at, "dest"), "dest is only meaningful in applied_to")
        if self._count() != before:
            return None
        return model.Endpoint(
            peer=model.Peer(peer) if peer else None,
            dest=model.Dest(dest) if dest else None,
            cidr=cidr,
            tenant=tenant,
            segment=segment,
            address_set=address_set,
        )

    def _cidr(self, obj: Mapping[str, Any], at: str) -> addressing.IPNetwork | None:
        value = obj.get("cidr")
        if value is None or value == "":
            return None
        try:
            return ipaddress.ip_network(value, strict=True)
        except (TypeError, ValueError) as exc:
            self.add(_at(at, "cidr"), f"must be an IPv4 or IPv6 network with no host bits ({exc})")
            return None

    def _number(self, obj: Mapping[str, Any], key: str, at: str) -> int | None:
        value = obj.get(key)
        if value is None:
            return None
        if not _is_int(value) or value < 0:
            self.add(_at(at, key), "must be a non-negative integer")
            return None
        return int(value)

    def _name_or_number(
        self, obj: Mapping[str, Any], at: str, name_key: str, id_key: str, number_key: str
    ) -> tuple[str | None, int | None]:
        name = self._string(obj, name_key, at)
        number = self._number(obj, number_key, at)
        raw_id = obj.get(id_key)
        if isinstance(raw_id, str) and raw_id:
            if name is not None and name != raw_id:
                self.add(_at(at, id_key), f"names {raw_id!r} but {name_key} says {name!r}")
            name = raw_id
        elif raw_id is not None:
            as_number = self._number(obj, id_key, at)
            if as_number is not None and number is not None and as_number != number:
                self.add(_at(at, id_key), f"is {as_number} but {number_key} says {number}")
            number = as_number if as_number is not None else number
        return name, number

    def _tenant(self, obj: Mapping[str, Any], at: str) -> model.TenantRef | None:
        name, number = self._name_or_number(obj, at, "tenant", "tenant_id", "tenant_network_id")
        external_id = self._string(obj, "tenant_external_id", at)
        if name is None and number is None and external_id is None:
            return None
        return model.TenantRef(name=name, external_id=external_id, number=number)

    def _segment(self, obj: Mapping[str, Any], at: str) -> model.SegmentRef | None:
        name, number = self._name_or_number(obj, at, "segment", "segment_id", "segment_network_id")
        if name is not None and number is not None:
            self.add(at, "name the segment or give its number, not both")
        if name is None and number is None:
            return None
        return model.SegmentRef(name=name, number=number)

    def rule(self, raw: object, at: str) -> model.Rule | None:
        obj = self._object(raw, at, _RULE_KEYS)
        if obj is None:
            return None
        before = self._count()
        protocol = self._protocol(obj, at)
        ports = self._ports(obj, at)
        ranges = self._port_ranges(obj, at)
        icmp_type = self._number(obj, "icmp_type", at)
        icmp_code = self._number(obj, "icmp_code", at)
        if "is_stateful" in obj and not isinstance(obj["is_stateful"], bool):
            self.add(_at(at, "is_stateful"), "must be true or false")
        if protocol is not None:
            self._protocol_fits(obj, at, protocol, icmp_type, icmp_code)
        if self._count() != before or protocol is None:
            return None
        return model.Rule(
            protocol=protocol,
            ports=tuple(sorted(set(ports))),
            port_ranges=tuple(sorted(set(ranges), key=lambda r: (r.lo, r.hi))),
            icmp_type=icmp_type,
            icmp_code=icmp_code,
        )

    def _protocol(self, obj: Mapping[str, Any], at: str) -> model.Protocol | None:
        value = obj.get("protocol")
        if value is None or value == "":
            self.add(_at(at, "protocol"), "No protocol specified.")
            return None
        if not isinstance(value, str) or value.lower() not in _PROTOCOLS:
            self.add(_at(at, "protocol"), f"Invalid protocol: {value}.")
            return None
        return model.Protocol(value.lower())

    def _optional_list(self, obj: Mapping[str, Any], key: str, at: str, rule: str) -> list[Any]:
        """``obj[key]`` when it is a list; [] when absent, and [] with ``rule`` when not a list."""
        value = obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.add(_at(at, key), rule)
            return []
        return value

    def _ports(self, obj: Mapping[str, Any], at: str) -> list[int]:
        value = self._optional_list(obj, "ports", at, "must be a list of port numbers")
        bad = [p for p in value if not _is_int(p) or not 0 <= p <= 65535]
        if bad:
            listed = ", ".join(str(p) for p in bad)
            self.add(_at(at, "ports"), f"The following ports are invalid: {listed}.")
        return [p for p in value if p not in bad]

    def _port_ranges(self, obj: Mapping[str, Any], at: str) -> list[model.PortRange]:
        value = self._optional_list(obj, "port_ranges", at, "must be a list of [lo, hi] pairs")
        good: list[model.PortRange] = []
        bad: list[str] = []
        for item in value:
            pair = item if isinstance(item, list) and len(item) == 2 else None
            if pair and all(_is_int(p) for p in pair) and 0 <= pair[0] <= pair[1] <= 65535:
                good.append(model.PortRange(pair[0], pair[1]))
            else:
                bad.append("-".join(str(p) for p in pair) if pair else repr(item))
        if bad:
            listed = ", ".join(bad)
            self.add(_at(at, "port_ranges"), f"The following port ranges are invalid: {listed}.")
        return good

    def _protocol_fits(
        self,
        obj: Mapping[str, Any],
        at: str,
        protocol: model.Protocol,
        icmp_type: int | None,
        icmp_code: int | None,
    ) -> None:
        has_ports = bool(obj.get("ports")) or bool(obj.get("port_ranges"))
        if has_ports and protocol not in model.PORT_PROTOCOLS:
            self.add(at, f"a {protocol} rule takes no ports (ports need tcp, udp or sctp)")
        if protocol not in model.ICMP_PROTOCOLS:
            for key in ("icmp_type", "icmp_code"):
                if key in obj:
                    self.add(_at(at, key), f"only icmp and icmpv6 rules take {key}")
            return
        if icmp_code is not None and icmp_type is None:
            self.add(_at(at, "icmp_code"), "needs icmp_type")
        if icmp_type is not None and icmp_type > 255:
            self.add(_at(at, "icmp_type"), "must be at most 255")
        if icmp_code is None or icmp_type is None:
            return
        limit = 255 if protocol is model.Protocol.ICMPV6 else _ICMP_MAX_CODE.get(icmp_type, 0)
        if icmp_code > limit:
            self.add(_at(at, "icmp_code"), f"must be at most {limit} for ICMP type {icmp_type}")
