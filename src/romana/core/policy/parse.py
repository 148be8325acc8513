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

This module reads a policy and its clauses; the endpoints (targets and peers) and rules they are
made of are read by :class:`romana.core.policy.parseparts.PartParser`, which the parser here
extends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from romana.core.errors import InvalidInput, Issue, Issues
from romana.core.policy import model
from romana.core.policy.parseparts import PartParser, field_at, is_int

_POLICY_KEYS = frozenset(
    {"name", "id", "external_id", "description", "direction", "action", "applied_to"}
    | {"ingress", "egress", "datacenter", "tier", "priority", "peers", "rules"}
)
_CLAUSE_KEYS = frozenset({"peers", "rules"})
_WRAPPER_KEY = "securitypolicies"
_TIERED_CLAUSE_KEYS = _CLAUSE_KEYS | {"action", "name", "targets"}


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


class _Parser(PartParser):
    """Reads policies and their clauses; the parts of a clause as :class:`PartParser` does."""

    def policy(self, raw: object, at: str) -> model.Policy | None:
        obj = self._object(raw, at, _POLICY_KEYS)
        if obj is None:
            return None
        name, external_id = self._identity(obj, at)
        description = self._string(obj, "description", at) or ""
        tier = self._tier(obj, at)
        action = self._choice(obj, "action", at, ("allow", "deny")) or "allow"
        if tier is not None and "action" in obj:
            self.add(
                field_at(at, "action"), "a tiered policy has no action: each rule gives its own"
            )
        direction = obj.get("direction")
        if direction is not None and (
            not isinstance(direction, str) or direction.lower() not in ("ingress", "egress")
        ):
            message = f"Unknown direction '{direction}', allowed 'egress' or 'ingress'."
            self.add(field_at(at, "direction"), message)
        direction = direction.lower() if isinstance(direction, str) else None
        targets = self._targets(obj.get("applied_to"), field_at(at, "applied_to"))
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
                self.add(
                    field_at(at, "priority"), "only a tiered policy (with 'tier') has a priority"
                )
            return None
        if priority is None:
            self.add(field_at(at, "priority"), "a tiered policy needs a priority")
        elif not is_int(priority) or not model.MIN_PRIORITY <= priority <= model.MAX_PRIORITY:
            self.add(
                field_at(at, "priority"),
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
        if raw_id is not None and id_name is None and not is_int(raw_id):
            self.add(field_at(at, "id"), "must be a non-empty string (v2) or an integer (v1)")
        if name is not None and id_name is not None and name != id_name:
            self.add(field_at(at, "id"), f"names the policy {id_name!r} but name says {name!r}")
        chosen = name or id_name or external_id
        if chosen is None and self._count() == before:
            # A v1 integer id is a database id: it names nothing on its own.
            self.add(field_at(at, "name"), "a policy needs a name, a string id or an external_id")
        return chosen, external_id

    def _directed_clauses(
        self, obj: Mapping[str, Any], at: str, direction: str | None, tiered: bool = False
    ) -> tuple[tuple[model.Clause, ...] | None, tuple[model.Clause, ...] | None]:
        has_ingress, has_egress = "ingress" in obj, "egress" in obj
        if "peers" in obj or "rules" in obj:
            return self._top_level_clause(obj, at, direction, tiered)
        if not has_ingress and not has_egress:
            self.add(field_at(at, "ingress"), "Required 'ingress' or 'egress' entry missing.")
            return None, None
        if direction == "egress" and has_ingress:
            if has_egress:
                self.add(
                    field_at(at, "egress"),
                    "with direction 'egress' give the clauses in 'ingress' (v1) or in "
                    "'egress', not in both",
                )
                return None, None
            return (), self._clauses(obj["ingress"], field_at(at, "ingress"), tiered)
        if direction == "ingress" and has_egress:
            self.add(
                field_at(at, "egress"),
                "contradicts direction 'ingress'; leave 'direction' out to give both",
            )
        ingress = (
            self._clauses(obj["ingress"], field_at(at, "ingress"), tiered) if has_ingress else ()
        )
        egress = self._clauses(obj["egress"], field_at(at, "egress"), tiered) if has_egress else ()
        return ingress, egress

    def _top_level_clause(
        self, obj: Mapping[str, Any], at: str, direction: str | None, tiered: bool
    ) -> tuple[tuple[model.Clause, ...] | None, tuple[model.Clause, ...] | None]:
        """The v0.9 shape: the policy's own ``peers`` and ``rules`` are its one clause."""
        field = field_at(at, "peers" if "peers" in obj else "rules")
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
        parsed = [self.endpoint(item, field_at(at, i), target=True) for i, item in enumerate(raw)]
        return tuple(e for e in parsed if e is not None) if all(parsed) else None

    def _clauses(
        self, raw: object, at: str, tiered: bool = False
    ) -> tuple[model.Clause, ...] | None:
        items = self._list(raw, at, "{peers, rules} clauses")
        if items is None:
            return None
        parsed = [self.clause(item, field_at(at, i), tiered) for i, item in enumerate(items)]
        return tuple(c for c in parsed if c is not None) if all(parsed) and items else None

    def clause(self, raw: object, at: str, tiered: bool = False) -> model.Clause | None:
        if not tiered and isinstance(raw, Mapping):
            for key in sorted(_TIERED_CLAUSE_KEYS - _CLAUSE_KEYS):
                if key in raw:
                    self.add(
                        field_at(at, key), "only the rules of a tiered policy (with 'tier') take it"
                    )
        obj = self._object(raw, at, _TIERED_CLAUSE_KEYS)
        if obj is None:
            return None
        action, name, targets = self._tiered_clause(obj, at) if tiered else (None, "", ())
        peers_raw = self._list(obj.get("peers"), field_at(at, "peers"), "peers")
        rules_raw = self._list(obj.get("rules"), field_at(at, "rules"), "rules")
        peers = [
            self.endpoint(p, field_at(field_at(at, "peers"), i), target=False)
            for i, p in enumerate(peers_raw or ())
        ]
        rules = [
            self.rule(r, field_at(field_at(at, "rules"), i)) for i, r in enumerate(rules_raw or ())
        ]
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
                field_at(at, "action"),
                "a tiered policy's rule needs an action: allow, deny or pass",
            )
        name = self._string(obj, "name", at) or ""
        if len(name) > model.MAX_RULE_NAME:
            self.add(field_at(at, "name"), f"must be at most {model.MAX_RULE_NAME} characters")
        raw = obj.get("targets")
        if raw is None:
            return model.Action(action) if action else None, name, ()
        items = self._list(raw, field_at(at, "targets"), "address sets")
        targets = []
        for i, item in enumerate(items or ()):
            where = field_at(field_at(at, "targets"), i)
            endpoint = self.endpoint(item, where, target=False)
            if endpoint is not None and endpoint.kind is not model.Kind.ADDRESS_SET:
                self.add(where, "a rule's targets are address sets only")
                endpoint = None
            targets.append(endpoint)
        ok = items is not None and all(targets)
        chosen = tuple(t for t in targets if t is not None) if ok else None
        return model.Action(action) if action else None, name, chosen
