"""Policy use cases: add, list, get and remove Romana policies; the revision agents converge on.

A policy is stored as its canonical JSON (``romana.core.policy.model.Policy.to_dict``, which
the parser reads back unchanged) plus ``id``, equal to its name, at ``policies/<id>``. Every
change also rewrites ``policy-generation`` in the same transaction, so the mod revision of
that key is the *policy revision*: an agent that has enforced the policies read at revision R
is converged while ``revision() <= R``.

Invariants:

* Validation reports every problem of every policy of a request at once (field paths
  ``[i].ingress[0].rules[1].ports``), and a request with any problem stores nothing.
* A well-formed policy the dataplane cannot express is refused when it is posted, not left
  for every agent to refuse: :class:`Unsupported` with the compiler's own message
  (:func:`romana.core.policy.compile.unsupported`), naming each such policy and why.
* A policy's id is its name (v1 ``name`` or ``external_id``, v2 ``id``); one that names itself
  by none of them gets an id derived from its content, so posting the same policy twice
  yields one stored policy. Different content under an existing id is AlreadyExists: remove
  the old policy first.
* :func:`validate` is the only place that knows the policy language.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from romana.core.errors import AlreadyExists, InvalidInput, Issues, NotFound, Unsupported
from romana.core.policy import compile as policy_compile
from romana.core.policy import parse as policy_parse
from romana.core.store import Delete, Put, Store
from romana.services import keys, txn

GENERATION = keys.ROOT + "policy-generation"
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,252}$")
ID_RULE = "must be 1-253 characters of letters, digits and _ . : -, starting alphanumeric"
_IDENTITY = ("name", "id", "external_id")


def validate(body: object) -> list[dict[str, Any]]:
    """One Romana policy (v1 or v2 shape) or a list → their canonical JSON, each with an ``id``.

    The only place that knows the policy language: parsing is :mod:`romana.core.policy.parse`
    (every issue at once); a policy without a name, id or external id gets its content id.
    Raises InvalidInput for malformed policies, then Unsupported for well-formed ones the
    dataplane cannot express (the message the compiler would give, every policy at once).
    """
    items = body if isinstance(body, list) else [body]
    issues = Issues()
    if isinstance(body, list) and not body:
        issues.add("", "expected a policy or a non-empty list of policies")
    prepared = [_with_identity(item) for item in items]
    parsed = policy_parse.policies(prepared if isinstance(body, list) else prepared[0])
    result = []
    for i, item in enumerate(parsed):
        where = f"[{i}]." if isinstance(body, list) else ""
        if not ID_RE.match(item.name):
            issues.add(f"{where}name", f"{item.name!r} {ID_RULE}")
        result.append({"id": item.name, **item.to_dict()})
    issues.raise_if_any()
    # In the compiler's order (by name): the very message compiling them would give.
    reasons = [
        r for p in sorted(parsed, key=lambda p: p.name) for r in policy_compile.unsupported(p)
    ]
    if reasons:
        raise Unsupported("; ".join(reasons))
    return result


def _with_identity(raw: object) -> object:
    """``raw`` with an ``id`` when it names itself by none of name, id (a string), external_id.

    A v1 integer id (a database row number) becomes the string id.
    """
    if not isinstance(raw, dict):
        return raw
    if any(isinstance(raw.get(k), str) and raw.get(k) for k in _IDENTITY):
        return raw
    if any(isinstance(raw.get(k), str) for k in _IDENTITY):
        return raw  # an empty identity: let the parser name the field
    rid = raw.get("id")
    if isinstance(rid, int) and not isinstance(rid, bool):
        return {**raw, "id": str(rid)}
    if rid is not None:
        return raw
    return {**raw, "id": content_id(raw)}


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
        return validate(body)

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

    def put(self, pid: str, body: object) -> dict[str, Any]:
        """Store one policy under ``pid``, replacing what that id held, in one transaction:
        no moment exists in which neither the old nor the new policy is stored."""
        parsed = self.parse(body)
        if len(parsed) != 1:
            raise InvalidInput("give one policy, not a list")
        (policy,) = parsed
        if policy["id"] != pid:
            raise InvalidInput(
                f"id: the policy's id {policy['id']!r} must be {pid!r}, as in the path"
            )
        key = keys.policy(pid)

        def attempt(w: txn.Writes) -> dict[str, Any]:
            kv = self._store.get(key)
            if kv is not None and txn.loads(kv) == policy:
                return policy
            w.guard(key, kv)
            w.ops += [Put(key, txn.dumps(policy)), Put(GENERATION, b"{}")]
            return policy

        return txn.run(self._store, attempt, what=f"put policy {pid!r}")

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
