"""The ``networks`` list of a topology document: one :class:`Network` per entry.

Each entry is ``{name, cidr, tenants?, tenant_bits?, segment_bits?, endpoint_bits?,
block_mask?}`` and becomes an :func:`romana.core.addressing.layout`, which validates the
widths. Rules added here:

* Names are unique; no network's CIDR contains another's (overlapping CIDRs always nest).
* ``block_mask`` is Romana v2's address-block prefix length. Our plan has no blocks; the
  nearest meaning is "addresses below this prefix belong to one endpoint field", so it maps to
  ``endpoint_bits = address_bits - block_mask`` with the default tenant and segment widths.
  It must lie in ``prefixlen … address_bits - 2`` and cannot be given with ``endpoint_bits``.
* ``tenants`` lists the tenants that may use the network (names matching
  ``^[a-zA-Z0-9_.-]+$``); empty, absent, or v2's ``["*"]`` admits every tenant.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import cast

from romana.core import addressing
from romana.core.errors import InvalidInput, Issues
from romana.core.topology import model

TENANT_RE = re.compile(r"^[a-zA-Z0-9_.-]+$")
ANY_TENANT = "*"
KEYS = frozenset(
    {"name", "cidr", "tenants", "tenant_bits", "segment_bits", "endpoint_bits", "block_mask"}
)


@dataclass(slots=True)
class Declared:
    """What the ``networks`` list declared: every name (valid or not) and the valid networks."""

    names: dict[str, int] = field(default_factory=dict)
    """Network name → its position in the list, for every uniquely named entry."""
    valid: dict[str, model.Network] = field(default_factory=dict)


def parse_networks(raw: object, issues: Issues) -> Declared:
    """Parse the ``networks`` list, adding every problem to ``issues``."""
    out = Declared()
    if raw is None:
        return out
    if not isinstance(raw, list):
        issues.add("networks", "must be a list")
        return out
    for i, item in enumerate(raw):
        _network(item, i, issues, out)
    _overlaps(out, issues)
    return out


def _network(raw: object, i: int, issues: Issues, out: Declared) -> None:
    where = f"networks[{i}]"
    doc = model.check_object(raw, where, KEYS, issues)
    if not doc:
        return
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        issues.add(f"{where}.name", "must be a non-empty string")
        name = None
    elif name in out.names:
        issues.add(f"{where}.name", f"duplicate network name (networks[{out.names[name]}])")
        name = None
    else:
        out.names[name] = i
    tenants = _tenants(doc.get("tenants"), f"{where}.tenants", issues)
    endpoint_bits = doc.get("endpoint_bits")
    if "block_mask" in doc:
        if "endpoint_bits" in doc:
            issues.add(where, "give endpoint_bits or block_mask, not both")
        endpoint_bits = _block_mask(doc["block_mask"], doc.get("cidr"), where, issues)
    cidr = doc.get("cidr")
    try:
        # addressing.layout checks that the widths are integers and reports the field.
        lay = addressing.layout(
            name or "?",
            cidr if isinstance(cidr, str) else "",
            cast("int | None", doc.get("tenant_bits")),
            cast("int | None", doc.get("segment_bits")),
            cast("int | None", endpoint_bits),
            field=where,
            tenants_configured=bool(tenants),
        )
    except InvalidInput as exc:
        issues.extend(exc.issues)
        return
    if name is not None:
        out.valid[name] = model.Network(lay, tenants)


def _tenants(raw: object, where: str, issues: Issues) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        issues.add(where, "must be a list of tenant names")
        return ()
    if ANY_TENANT in raw:
        if len(raw) > 1:
            issues.add(where, "'*' (every tenant) cannot be combined with names")
        return ()
    names: list[str] = []
    for k, name in enumerate(raw):
        if not isinstance(name, str) or not TENANT_RE.match(name):
            issues.add(f"{where}[{k}]", f"tenant {name!r} must match ^[a-zA-Z0-9_.-]+$")
        elif name in names:
            issues.add(f"{where}[{k}]", f"duplicate tenant {name!r}")
        else:
            names.append(name)
    return tuple(names)


def _block_mask(raw: object, cidr: object, where: str, issues: Issues) -> int | None:
    if not isinstance(raw, int) or isinstance(raw, bool):
        issues.add(f"{where}.block_mask", "must be an integer")
        return None
    try:
        net = ipaddress.ip_network(cidr if isinstance(cidr, str) else "", strict=True)
    except ValueError:
        return None  # addressing.layout reports the cidr
    if not net.prefixlen <= raw <= net.max_prefixlen - 2:
        issues.add(
            f"{where}.block_mask",
            f"must be {net.prefixlen} <= block_mask <= {net.max_prefixlen - 2} "
            "(it sets endpoint_bits = address bits - block_mask, which must be >= 2)",
        )
        return None
    return net.max_prefixlen - raw


def _overlaps(out: Declared, issues: Issues) -> None:
    seen: list[tuple[int, model.Network]] = []
    for name, i in out.names.items():
        net = out.valid.get(name)
        if net is None:
            continue
        for j, other in seen:
            a, b = net.layout.cidr, other.layout.cidr
            if a.version == b.version and a.overlaps(b):
                issues.add(
                    f"networks[{i}].cidr",
                    f"{a} overlaps networks[{j}] {other.name!r} ({b}): "
                    "no network may contain another",
                )
        seen.append((i, net))
