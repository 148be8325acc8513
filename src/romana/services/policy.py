"""Policy use cases: add, list, get, resolve and remove Romana policies; the revision agents
converge on.

A policy is stored as its canonical JSON (``romana.core.policy.model.Policy.to_dict``, which
the parser reads back unchanged) plus ``id`` (:mod:`romana.core.policy.ids`): ``<tenant>/<name>``
for a policy owned by one tenant (every target inside it), at ``policies/<tenant>/<name>``;
``<name>`` for a global one, at ``policies/<name>``. Every change also rewrites
``policy-generation`` in the same transaction, so the mod revision of that key is the *policy
revision*: an agent that has enforced the policies read at revision R is converged while
``revision() <= R``.

Invariants:

* Validation reports every problem of every policy of a request at once (field paths
  ``[i].ingress[0].rules[1].ports``), and a request with any problem stores nothing.
* A well-formed policy the dataplane cannot express is refused when it is posted, not left
  for every agent to refuse: :class:`Unsupported` with the compiler's own message
  (:func:`romana.core.policy.compile.unsupported`), naming each such policy and why.
* A policy's name is v1 ``name`` or ``external_id``, v2 ``id``; one that names itself by none
  of them gets a name derived from its content, so posting the same policy twice yields one
  stored policy. Names are unique per owner: tenant ``a``'s ``allow-web`` never stands in the
  way of tenant ``b``'s. Different content under an existing id is AlreadyExists: remove the
  old policy first. A posted ``id`` that holds a ``/`` must be the id the targets give.
* A bare name resolves (:meth:`PolicyService.resolve`) to the caller's tenant's policy of that
  name, else to the global one; for callers of no tenant, to the global one, else to the one
  tenant-owned policy of that name. Several tenants' policies of that name are never guessed
  between: InvalidInput lists their ids.
* Adding a tenant's policies past its ``policies`` quota
  (:meth:`romana.services.quotas.QuotaService.limits`) is QuotaExceeded and stores nothing;
  the count is guarded, so racing requests cannot pass it together.
* :func:`validate` is the only place that knows the policy language.
"""

from __future__ import annotations

import collections
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from romana.core.errors import (
    AlreadyExists,
    InvalidInput,
    Issue,
    Issues,
    NotFound,
    QuotaExceeded,
    Unsupported,
)
from romana.core.identifiers import TenantName
from romana.core.policy import compile as policy_compile
from romana.core.policy import ids
from romana.core.policy import parse as policy_parse
from romana.core.store import Delete, Put, Store
from romana.services import keys, txn
from romana.services.quotas import QuotaService

GENERATION = keys.ROOT + "policy-generation"
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,252}$")
ID_RULE = "must be 1-253 characters of letters, digits and _ . : -, starting alphanumeric"
_IDENTITY = ("name", "id", "external_id")


def validate(body: object) -> list[dict[str, Any]]:
    """One Romana policy (v1 or v2 shape) or a list → their canonical JSON, each with its ``id``.

    The only place that knows the policy language: parsing is :mod:`romana.core.policy.parse`
    (every issue at once); a policy without a name, id or external id gets its content name.
    Raises InvalidInput for malformed policies, then Unsupported for well-formed ones the
    dataplane cannot express (the message the compiler would give, every policy at once).
    """
    body = policy_parse.unwrap(body)  # Romana v0.9's {"securitypolicies": [...]} files
    many = isinstance(body, list)
    items: list[object] = list(body) if isinstance(body, list) else [body]
    issues = Issues("invalid policies" if many else "invalid policy")
    if many and not items:
        issues.add("", "expected a policy or a non-empty list of policies")
    parsed = []
    seen: set[str] = set()
    for i, raw in enumerate(items):
        where = f"[{i}]" if many else ""
        prepared, claimed = _without_full_id(_with_identity(raw))
        try:
            item = policy_parse.policy(prepared, field=where)
        except InvalidInput as exc:
            issues.extend(exc.issues)
            continue
        pid = ids.policy_id(item)
        at = f"{where}." if where else ""
        if not ID_RE.match(item.name):
            issues.add(f"{at}name", f"{item.name!r} {ID_RULE}")
        if claimed is not None and claimed != pid:
            issues.add(
                f"{at}id", f"{claimed!r} is not this policy's id: its targets make it {pid!r}"
            )
        if pid in seen:
            issues.add(f"{at}name", f"policy id {pid!r} is used twice")
        seen.add(pid)
        parsed.append(item)
    issues.raise_if_any()
    # In the compiler's order (by name): the very message compiling them would give.
    reasons = [
        r for p in sorted(parsed, key=lambda p: p.name) for r in policy_compile.unsupported(p)
    ]
    if reasons:
        raise Unsupported("; ".join(reasons))
    return [{"id": ids.policy_id(item), **item.to_dict()} for item in parsed]


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


def _without_full_id(raw: object) -> tuple[object, str | None]:
    """``raw`` without a full (``<tenant>/<name>``) ``id``, named by its name part when it has
    no name, and that id: a stored policy read back and posted again names itself so."""
    if not isinstance(raw, dict):
        return raw, None
    rid = raw.get("id")
    if not isinstance(rid, str) or ids.SEPARATOR not in rid:
        return raw, None
    rest = {k: v for k, v in raw.items() if k != "id"}
    if not any(isinstance(rest.get(k), str) and rest.get(k) for k in ("name", "external_id")):
        rest["name"] = ids.split(rid)[1]
    return rest, rid


def content_id(policy: Mapping[str, Any]) -> str:
    """The name of a policy that came without one: a digest of its normalised content."""
    body = {k: v for k, v in policy.items() if k != "id"}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
    return digest.hexdigest()[:16]


def tenants_of(policy: Mapping[str, Any]) -> set[TenantName]:
    """The tenants a policy is applied to, by name (v1 ``tenant``, v2 ``tenant_id``)."""
    names = set()
    for endpoint in policy.get("applied_to", []):
        for key in ("tenant", "tenant_id"):
            value = endpoint.get(key)
            if isinstance(value, str) and value:
                names.add(TenantName(value))
    return names


def applies_only_to(policy: Mapping[str, Any], tenant: TenantName) -> bool:
    """True when every target of the policy is inside ``tenant``."""
    return all(
        any(e.get(k) == tenant for k in ("tenant", "tenant_id"))
        for e in policy.get("applied_to", [])
    )


def owner_of(policy: Mapping[str, Any]) -> TenantName | None:
    """The tenant owning a stored policy, by its id (None: global)."""
    owner = ids.split(str(policy.get("id", "")))[0]
    return None if owner is None else TenantName(owner)


class PolicyService:
    def __init__(self, store: Store, quotas: QuotaService | None = None) -> None:
        self._store = store
        self._quotas = quotas or QuotaService(store)

    def parse(self, body: object) -> list[dict[str, Any]]:
        """Validate one policy or a list of them; ids filled in. Every issue at once."""
        return validate(body)

    def add(self, body: object) -> list[dict[str, Any]]:
        """Store one policy or a list, all or nothing; re-adding identical content is a no-op."""
        policies = self.parse(body)

        def attempt(w: txn.Writes) -> list[dict[str, Any]]:
            added: collections.Counter[TenantName] = collections.Counter()
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
                tenant = owner_of(policy)
                if tenant is not None:
                    added[tenant] += 1
            for tenant, count in sorted(added.items()):
                self._within_quota(w, tenant, count)
            if w.ops:
                w.ops.append(Put(GENERATION, b"{}"))
            return policies

        return txn.run(self._store, attempt, what="add policies")

    def _within_quota(self, w: txn.Writes, tenant: TenantName, wanted: int) -> None:
        """Refuse ``wanted`` more policies of ``tenant`` past its quota; guard the count read,
        so a concurrent add that changes it makes this attempt start over."""
        limit = self._quotas.limits(tenant).policies
        held = self._store.range(keys.tenant_policies(tenant))
        if len(held.items) + wanted > limit:
            raise QuotaExceeded(tenant, "policies", limit, len(held.items), wanted=wanted)
        w.guard_range(keys.tenant_policies(tenant), held.revision)

    def put(self, ref: str, body: object) -> dict[str, Any]:
        """Store one policy under its id, replacing what that id held, in one transaction:
        no moment exists in which neither the old nor the new policy is stored.

        ``ref`` is the policy's id or its bare name; either way the id its targets give is
        where it is stored."""
        parsed = self.parse(body)
        if len(parsed) != 1:
            raise InvalidInput("give one policy, not a list")
        (policy,) = parsed
        pid = policy["id"]
        if ref not in (pid, policy["name"]):
            raise InvalidInput(
                [Issue("id", f"the policy's id {pid!r} must be {ref!r}, as in the path")]
            )
        key = keys.policy(pid)
        tenant = owner_of(policy)

        def attempt(w: txn.Writes) -> dict[str, Any]:
            kv = self._store.get(key)
            if kv is not None and txn.loads(kv) == policy:
                return policy
            if kv is None and tenant is not None:
                self._within_quota(w, tenant, 1)
            w.guard(key, kv)
            w.ops += [Put(key, txn.dumps(policy)), Put(GENERATION, b"{}")]
            return policy

        return txn.run(self._store, attempt, what=f"put policy {pid!r}")

    def resolve(self, ref: str, *, tenant: TenantName | None = None) -> str:
        """The id ``ref`` stands for: an id stands for itself; a bare name for ``tenant``'s
        policy of that name, else the global one; without a tenant, for the global policy of
        that name, else the one tenant-owned policy of that name. Unknown names come back
        as they are (reading them is NotFound); several tenants' policies of one name are
        InvalidInput listing their ids."""
        if ids.SEPARATOR in ref:
            return ref
        if tenant is not None:
            own = ids.make(tenant, ref)
            return own if self._store.get(keys.policy(own)) is not None else ref
        if self._store.get(keys.policy(ref)) is not None:
            return ref
        owned = []
        for kv in self._store.range(keys.POLICIES).items:
            tenant_part, name = ids.split(kv.key[len(keys.POLICIES) :])
            if tenant_part is not None and name == ref:
                owned.append(ids.make(tenant_part, name))
        if len(owned) > 1:
            listed = ", ".join(owned)
            rule = f"{ref!r} names policies of several tenants: give one of the ids {listed}"
            raise InvalidInput([Issue("id", rule)])
        return owned[0] if owned else ref

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
