"""The ``aws`` key of a ``topologies[]`` entry: which VPC route tables carry its groups.

Shape::

    "aws": {"route_tables": ["rtb-0123456789abcdef0", ...], "route_limit": 50}

``route_tables`` names the VPC route tables that ``romana-aws`` keeps in step with the tree
(one route per leaf group holding hosts, per network of the tree; see
:mod:`romana.core.vpcroutes`). ``route_limit`` is the most routes a table may hold, every
route but propagated ones counted: AWS's quota is 50 per table unless raised (up to 1000), and
the publisher refuses to add routes beyond it rather than fail half-way. A table named by
several topologies obeys the smallest of their limits.

Invariants of a parsed :class:`VpcRouting`: at least one table, no table twice, every table
id of the form ``rtb-`` and 8 or 17 hexadecimal digits, ``route_limit`` within
``1 .. MAX_ROUTE_LIMIT``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from romana.core.errors import Issues

DEFAULT_ROUTE_LIMIT = 50
"""AWS's default quota of routes per route table."""
MAX_ROUTE_LIMIT = 1000
"""The highest quota AWS grants per route table."""
TABLE_RE = re.compile(r"rtb-(?:[0-9a-f]{8}|[0-9a-f]{17})")
_KEYS = frozenset({"route_tables", "route_limit"})


@dataclass(frozen=True, slots=True)
class VpcRouting:
    """The VPC route tables a tree's groups are published to, and their route limit."""

    route_tables: tuple[str, ...]
    route_limit: int = DEFAULT_ROUTE_LIMIT


def parse_aws(raw: object, where: str, issues: Issues) -> VpcRouting | None:
    """The ``aws`` value at ``where`` (``topologies[0].aws``); None when absent or invalid,
    every problem added to ``issues`` with its field path."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        issues.add(where, "must be an object with route_tables and, optionally, route_limit")
        return None
    ok = True
    for key in raw:
        if key not in _KEYS:
            issues.add(f"{where}.{key}", f"unknown key (allowed: {', '.join(sorted(_KEYS))})")
            ok = False
    tables = raw.get("route_tables")
    if not isinstance(tables, list) or not tables:
        issues.add(f"{where}.route_tables", "must be a non-empty list of route table ids")
        tables = []
        ok = False
    seen: list[str] = []
    for i, table in enumerate(tables):
        at = f"{where}.route_tables[{i}]"
        if not isinstance(table, str) or TABLE_RE.fullmatch(table) is None:
            issues.add(at, f"{table!r} is not a route table id (rtb- and 8 or 17 hex digits)")
            ok = False
        elif table in seen:
            issues.add(at, f"route table {table} is listed twice")
            ok = False
        else:
            seen.append(table)
    limit = raw.get("route_limit", DEFAULT_ROUTE_LIMIT)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_ROUTE_LIMIT:
        issues.add(f"{where}.route_limit", f"must be an integer in 1..{MAX_ROUTE_LIMIT}")
        ok = False
    if not ok:
        return None
    assert isinstance(limit, int)
    return VpcRouting(tuple(seen), limit)


def aws_document(routing: VpcRouting) -> dict[str, Any]:
    """The ``aws`` value :func:`parse_aws` reads back as ``routing``."""
    return {"route_tables": list(routing.route_tables), "route_limit": routing.route_limit}
