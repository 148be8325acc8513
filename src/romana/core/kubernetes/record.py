"""Kubernetes objects as documents: the files' documents read in, and the stored record.

:func:`of_documents` reads the documents ``romana policy apply -f`` and ``romana explain -f``
are given (parsed YAML or JSON, one mapping per object) into the values the API server would
hold: every document is parsed, and a bad one is reported by its position (``document 3:
...``) together with every other problem, so nothing is applied from a partly bad set.

:func:`record` is the canonical record of the namespaces, pods, NetworkPolicies and
ClusterNetworkPolicies a sync derived its ``kube.*`` state from (what ``romana explain``
answers from), and :func:`read` its inverse (:func:`parse` its namespaced part). Beside
the objects, :class:`Derived` lists the ids of the policies and the names of the sets syncs
derived and may therefore remove, the segment label they translated with, and the VIPs and
external IPs they made for Services and pod annotations.

Invariants:

* Lists are sorted by (namespace, name), so equal records are equal documents. A record an
  earlier release stored has no ``clusternetworkpolicies``: it reads as none.
* Every object of a record is parsed as :func:`romana.core.kubernetes.objects.parse` parses a
  watch event; every problem is reported at once (``pods[3]: ...``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from romana.core.errors import InvalidInput, Issues
from romana.core.kubernetes import dump, networkpolicy
from romana.core.kubernetes import objects as ko

KINDS = {
    "namespaces": "Namespace",
    "pods": "Pod",
    "networkpolicies": "NetworkPolicy",
    "clusternetworkpolicies": "ClusterNetworkPolicy",
}
"""Record field → the ``kind`` of the objects it lists."""

Record = dict[str, Any]
"""``namespaces``, ``pods``, ``networkpolicies``, ``clusternetworkpolicies`` (lists of
objects) and ``derived`` (a :meth:`Derived.to_dict`, or None when no sync recorded it)."""


@dataclass(frozen=True, slots=True)
class Objects:
    """The objects of a record, by kind."""

    namespaces: list[ko.Namespace] = dataclasses.field(default_factory=list)
    pods: list[ko.Pod] = dataclasses.field(default_factory=list)
    policies: list[networkpolicy.NetworkPolicy] = dataclasses.field(default_factory=list)
    cluster_policies: list[ko.ClusterNetworkPolicy] = dataclasses.field(default_factory=list)


def of_documents(docs: Sequence[Any]) -> list[ko.KubeObject]:
    """The documents as the API server would hold them (Namespaces carry their name label);
    InvalidInput naming every bad document by its position, counted from 1."""
    parsed, problems = [], []
    for i, doc in enumerate(docs):
        try:
            if not isinstance(doc, Mapping):
                raise InvalidInput("must be an object with kind and metadata")
            parsed.append(ko.admitted(ko.parse(doc)))
        except InvalidInput as exc:
            problems.append(f"document {i + 1}: {exc}")
    if problems:
        raise InvalidInput("; ".join(problems))
    return parsed


@dataclass(frozen=True, slots=True)
class Derived:
    """What syncs derived from the stored objects: theirs to rewrite and to remove."""

    policies: frozenset[str] = frozenset()
    sets: frozenset[str] = frozenset()
    segment_label: str = ""
    vips: frozenset[str] = frozenset()
    """The VIPs syncs made for Services."""
    external_ips: frozenset[tuple[str, str]] = frozenset()
    """(address, allocation key) of each external IP syncs assigned for a pod annotation."""

    def __or__(self, other: Derived) -> Derived:
        return Derived(
            self.policies | other.policies,
            self.sets | other.sets,
            other.segment_label or self.segment_label,
            self.vips | other.vips,
            self.external_ips | other.external_ips,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "policies": sorted(self.policies),
            "sets": sorted(self.sets),
            "segment_label": self.segment_label,
            "vips": sorted(self.vips),
            "external_ips": dict(sorted(self.external_ips)),
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
        for key in ("policies", "sets", "vips"):
            value = raw.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                issues.add(f"derived.{key}", "must be a list of names")
        if not isinstance(raw.get("segment_label", ""), str):
            issues.add("derived.segment_label", "must be a label name")
        ips = raw.get("external_ips") or {}
        if not isinstance(ips, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in ips.items()
        ):
            issues.add("derived.external_ips", "must map addresses to allocation keys")
            ips = {}
        for key in sorted(set(raw) - set(DERIVED_KEYS), key=str):
            issues.add(f"derived.{key}", f"unknown key; expected {', '.join(DERIVED_KEYS)}")
        issues.raise_if_any()
        return cls(
            frozenset(raw.get("policies", [])),
            frozenset(raw.get("sets", [])),
            str(raw.get("segment_label", "")),
            frozenset(raw.get("vips", [])),
            frozenset(ips.items()),
        )


DERIVED_KEYS = ("policies", "sets", "segment_label", "vips", "external_ips")


def record(
    namespaces: Sequence[ko.Namespace],
    pods: Sequence[ko.Pod],
    policies: Sequence[networkpolicy.NetworkPolicy],
    derived: Derived | None = None,
    cluster_policies: Sequence[ko.ClusterNetworkPolicy] = (),
) -> Record:
    """The canonical record of these objects (what romanad's ``GET /v1/kube/objects`` gives)."""

    def ordered(objs: Sequence[Any]) -> list[dict[str, Any]]:
        return [
            dump.dump(o) for o in sorted(objs, key=lambda o: (getattr(o, "namespace", ""), o.name))
        ]

    return {
        "namespaces": ordered(namespaces),
        "pods": ordered(pods),
        "networkpolicies": ordered(policies),
        "clusternetworkpolicies": ordered(cluster_policies),
        "derived": derived.to_dict() if derived is not None else None,
    }


def parse(
    body: Mapping[str, Any],
) -> tuple[list[ko.Namespace], list[ko.Pod], list[networkpolicy.NetworkPolicy]]:
    """The namespaced objects of a record (:func:`read`, every entry checked)."""
    got = read(body)
    return got.namespaces, got.pods, got.policies


def read(body: Mapping[str, Any]) -> Objects:
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
    return Objects(
        parsed["namespaces"],
        parsed["pods"],
        parsed["networkpolicies"],
        parsed["clusternetworkpolicies"],
    )
