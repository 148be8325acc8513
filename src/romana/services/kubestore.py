"""The Kubernetes objects romanad's ``kube.*`` state was translated from, kept for explaining.

The listener and ``romana policy apply`` store, next to the policies and address sets they
derive, the namespaces, pods and NetworkPolicies they derived them from, so ``romana explain``
answers from romanad's model without the cluster or the files at hand. Objects are stored as
:mod:`romana.core.policy.kubedump` documents (only what policy reads), one JSON list per kind
and namespace:

``/romana/v1/kube/namespaces``, ``/romana/v1/kube/pods/<ns>``,
``/romana/v1/kube/networkpolicies/<ns>``. Beside them, ``/romana/v1/kube/derived`` holds the
record's ``derived`` field (:class:`Derived`): the ids of the policies and the names of the
sets syncs derived and may therefore remove, and the segment label they translated with.

Invariants:

* A put replaces the whole record: what it does not hold is removed. It writes only the keys
  whose lists changed, all in one transaction, and nothing when nothing changed.
* Every object of a put is parsed as :func:`romana.core.policy.kubeobjects.parse` parses a
  watch event; every problem is reported at once (``pods[3]: ...``) and nothing is stored.
* Lists are sorted by (namespace, name), so equal records are equal documents.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from romana.core.errors import InvalidInput, Issues
from romana.core.policy import kubedump
from romana.core.policy import kubeobjects as ko
from romana.core.store import Delete, Op, Put, Store
from romana.services import keys, txn

KINDS = {"namespaces": "Namespace", "pods": "Pod", "networkpolicies": "NetworkPolicy"}
"""Record field → the ``kind`` of the objects it lists."""

Record = dict[str, Any]
"""``namespaces``, ``pods``, ``networkpolicies`` (lists of objects) and ``derived`` (a
:meth:`Derived.to_dict`, or None when no sync recorded it)."""


@dataclass(frozen=True, slots=True)
class Derived:
    """What syncs derived from the stored objects: theirs to rewrite and to remove."""

    policies: frozenset[str] = frozenset()
    sets: frozenset[str] = frozenset()
    segment_label: str = ""

    def __or__(self, other: Derived) -> Derived:
        return Derived(
            self.policies | other.policies,
            self.sets | other.sets,
            other.segment_label or self.segment_label,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "policies": sorted(self.policies),
            "sets": sorted(self.sets),
            "segment_label": self.segment_label,
        }

    @classmethod
    def of(cls, rec: Mapping[str, Any]) -> Derived | None:
        """The ``derived`` field of a record; None when it has none (an earlier release's)."""
        raw = rec.get("derived")
        if raw is None:
            return None
        issues = Issues("invalid Kubernetes objects")
        if not isinstance(raw, Mapping):
            issues.add("derived", "must be an object with policies, sets and segment_label")
            issues.raise_if_any()
        assert isinstance(raw, Mapping)
        for key in ("policies", "sets"):
            value = raw.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                issues.add(f"derived.{key}", "must be a list of names")
        if not isinstance(raw.get("segment_label", ""), str):
            issues.add("derived.segment_label", "must be a label name")
        for key in sorted(set(raw) - {"policies", "sets", "segment_label"}, key=str):
            issues.add(f"derived.{key}", "unknown key; expected policies, sets, segment_label")
        issues.raise_if_any()
        return cls(
            frozenset(raw.get("policies", [])),
            frozenset(raw.get("sets", [])),
            str(raw.get("segment_label", "")),
        )


def record(
    namespaces: Sequence[ko.Namespace],
    pods: Sequence[ko.Pod],
    policies: Sequence[ko.NetworkPolicy],
    derived: Derived | None = None,
) -> Record:
    """The canonical record of these objects (what :meth:`KubeObjectService.get` returns)."""

    def ordered(objs: Sequence[Any]) -> list[dict[str, Any]]:
        return [
            kubedump.dump(o)
            for o in sorted(objs, key=lambda o: (getattr(o, "namespace", ""), o.name))
        ]

    return {
        "namespaces": ordered(namespaces),
        "pods": ordered(pods),
        "networkpolicies": ordered(policies),
        "derived": derived.to_dict() if derived is not None else None,
    }


def parse(
    body: Mapping[str, Any],
) -> tuple[list[ko.Namespace], list[ko.Pod], list[ko.NetworkPolicy]]:
    """The objects of a record; InvalidInput naming every bad entry (``pods[3].metadata.name``)."""
    issues = Issues("invalid Kubernetes objects")
    for key in sorted(set(body) - set(KINDS) - {"derived"}, key=str):
        issues.add(str(key), f"unknown key; expected {', '.join(KINDS)}, derived")
    parsed: dict[str, list[Any]] = {}
    for field, kind in KINDS.items():
        items = body.get(field) or []
        parsed[field] = []
        if not isinstance(items, list):
            issues.add(field, f"must be a list of {kind} objects")
            continue
        for i, raw in enumerate(items):
            at = f"{field}[{i}]"
            if not isinstance(raw, Mapping):
                issues.add(at, f"must be a {kind} object")
                continue
            try:
                obj = ko.parse({**raw, "kind": raw.get("kind", kind)})
            except InvalidInput as exc:
                for issue in exc.issues:
                    issues.add(f"{at}.{issue.field}" if issue.field else at, issue.rule)
                continue
            if type(obj).__name__ != kind:
                issues.add(f"{at}.kind", f"must be {kind}")
                continue
            parsed[field].append(obj)
    issues.raise_if_any()
    return parsed["namespaces"], parsed["pods"], parsed["networkpolicies"]


def _split(rec: Record) -> dict[str, list[dict[str, Any]]]:
    """Store key → its list."""
    out: dict[str, list[dict[str, Any]]] = {keys.KUBE_NAMESPACES: rec["namespaces"]}
    for field, prefix in (("pods", keys.KUBE_PODS), ("networkpolicies", keys.KUBE_POLICIES)):
        for item in rec[field]:
            out.setdefault(prefix + item["metadata"]["namespace"], []).append(item)
    return out


class KubeObjectService:
    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self) -> Record:
        """Every stored object; empty lists when no sync has stored any."""
        rec: Record = {field: [] for field in KINDS}
        rec["derived"] = None
        for kv in self._store.range(keys.KUBE).items:
            if kv.key == keys.KUBE_DERIVED:
                rec["derived"] = txn.loads(kv)
            elif kv.key == keys.KUBE_NAMESPACES:
                rec["namespaces"] = txn.loads(kv)
            elif kv.key.startswith(keys.KUBE_PODS):
                rec["pods"] += txn.loads(kv)
            elif kv.key.startswith(keys.KUBE_POLICIES):
                rec["networkpolicies"] += txn.loads(kv)
        return rec

    def put(self, body: Mapping[str, Any]) -> Record:
        """Make the stored record hold exactly ``body``'s objects; the canonical record."""
        rec = record(*parse(body), Derived.of(body))
        wanted = {key: txn.dumps(items) for key, items in _split(rec).items() if items}
        if rec["derived"] is not None:
            wanted[keys.KUBE_DERIVED] = txn.dumps(rec["derived"])

        def attempt(w: txn.Writes) -> Record:
            current = {kv.key: kv for kv in self._store.range(keys.KUBE).items}
            ops: list[Op] = []
            for key, value in sorted(wanted.items()):
                kv = current.get(key)
                if kv is None or kv.value != value:
                    w.guard(key, kv)
                    ops.append(Put(key, value))
            for key in sorted(set(current) - set(wanted)):
                w.guard(key, current[key])
                ops.append(Delete(key))
            w.ops += ops
            return rec

        return txn.run(self._store, attempt, what="store Kubernetes objects")
