"""Kubernetes label selectors: parse ``{matchLabels, matchExpressions}`` and match label maps.

Semantics are those of ``metav1.LabelSelector``: every ``matchLabels`` pair and every
requirement must hold (AND). Operators: ``In`` (the key is present with one of the values),
``NotIn`` (absent, or present with none of the values), ``Exists``, ``DoesNotExist``. ``In``
and ``NotIn`` need a non-empty ``values``; ``Exists`` and ``DoesNotExist`` take none. An empty
selector (``{}``) selects everything; a missing one is represented by ``None`` by callers, which
give it their own meaning.

A :class:`Selector` is frozen and canonical (pairs and requirements sorted, values
de-duplicated), so two selectors that say the same thing compare and hash equal, and
:meth:`Selector.canonical` is a stable text usable in names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from romana.core.errors import Issues


class Operator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


@dataclass(frozen=True, slots=True, order=True)
class Requirement:
    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def holds(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator is Operator.EXISTS:
            return present
        if self.operator is Operator.DOES_NOT_EXIST:
            return not present
        inside = present and labels[self.key] in self.values
        return inside if self.operator is Operator.IN else not inside


@dataclass(frozen=True, slots=True)
class Selector:
    labels: tuple[tuple[str, str], ...] = ()
    requirements: tuple[Requirement, ...] = ()

    @property
    def empty(self) -> bool:
        """Selects everything."""
        return not self.labels and not self.requirements

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.labels) and all(
            r.holds(labels) for r in self.requirements
        )

    def only_label(self) -> tuple[str, str] | None:
        """The one ``key=value`` pair this selector consists of, if that is all it says."""
        if len(self.labels) == 1 and not self.requirements:
            return self.labels[0]
        if not self.labels and len(self.requirements) == 1:
            req = self.requirements[0]
            if req.operator is Operator.IN and len(req.values) == 1:
                return req.key, req.values[0]
        return None

    def canonical(self) -> str:
        parts = [f"{k}={v}" for k, v in self.labels]
        parts += [f"{r.key} {r.operator} ({','.join(r.values)})" for r in self.requirements]
        return "{" + ";".join(parts) + "}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.labels:
            out["matchLabels"] = dict(self.labels)
        if self.requirements:
            out["matchExpressions"] = [
                {"key": r.key, "operator": str(r.operator), "values": list(r.values)}
                if r.values
                else {"key": r.key, "operator": str(r.operator)}
                for r in self.requirements
            ]
        return out


EVERYTHING = Selector()


def _at(prefix: str, key: str | int) -> str:
    return f"{prefix}[{key}]" if isinstance(key, int) else f"{prefix}.{key}"


def parse(raw: object, at: str, issues: Issues) -> Selector | None:
    """A selector from its API shape; problems go to ``issues`` (None when there were any)."""
    before = sum(1 for _ in issues)
    if not isinstance(raw, Mapping):
        issues.add(at, "must be a label selector object ({matchLabels, matchExpressions})")
        return None
    for key in sorted(set(raw) - {"matchLabels", "matchExpressions"}, key=str):
        issues.add(_at(at, str(key)), "unknown key")
    labels: dict[str, str] = {}
    raw_labels = raw.get("matchLabels") or {}
    if not isinstance(raw_labels, Mapping):
        issues.add(_at(at, "matchLabels"), "must be a map of label names to values")
    else:
        for k, v in raw_labels.items():
            if not isinstance(k, str) or not k or not isinstance(v, str):
                issues.add(
                    _at(_at(at, "matchLabels"), str(k)), "label names and values are strings"
                )
            else:
                labels[k] = v
    requirements: list[Requirement] = []
    raw_exprs = raw.get("matchExpressions") or []
    if not isinstance(raw_exprs, list):
        issues.add(_at(at, "matchExpressions"), "must be a list of {key, operator, values}")
        raw_exprs = []
    for i, expr in enumerate(raw_exprs):
        req = _requirement(expr, _at(_at(at, "matchExpressions"), i), issues)
        if req is not None:
            requirements.append(req)
    if sum(1 for _ in issues) != before:
        return None
    return Selector(tuple(sorted(labels.items())), tuple(sorted(set(requirements))))


def _requirement(raw: object, at: str, issues: Issues) -> Requirement | None:
    if not isinstance(raw, Mapping):
        issues.add(at, "must be an object {key, operator, values}")
        return None
    for key in sorted(set(raw) - {"key", "operator", "values"}, key=str):
        issues.add(_at(at, str(key)), "unknown key")
    key = raw.get("key")
    if not isinstance(key, str) or not key:
        issues.add(_at(at, "key"), "must be a non-empty label name")
    op_raw = raw.get("operator")
    operators = [str(o) for o in Operator]
    if op_raw not in operators:
        issues.add(_at(at, "operator"), f"must be one of {', '.join(operators)}")
        return None
    operator = Operator(op_raw)
    values = raw.get("values") or []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        issues.add(_at(at, "values"), "must be a list of strings")
        return None
    if operator in (Operator.IN, Operator.NOT_IN) and not values:
        issues.add(_at(at, "values"), f"{operator} needs at least one value")
    if operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST) and values:
        issues.add(_at(at, "values"), f"{operator} takes no values")
    if not isinstance(key, str) or not key:
        return None
    return Requirement(key, operator, tuple(sorted(set(values))))
