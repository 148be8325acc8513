"""The ``networks`` list of a topology document: one :class:`Network` per entry.

Each entry is ``{name, cidr, tenants?, tenant_bits?, segment_bits?, endpoint_bits?,
block_mask?}`` and becomes an :func:`romana.core.addressing.layout`, which validates the
widths. Rules added here:

* Names are unique DNS-1123 labels (:data:`romana.core.names.NETWORK_RULE`; lower case, so
  unique ignoring case too); no network's CIDR contains another's (overlapping CIDRs always
  nest).
* ``block_mask`` is Romana v2's address-block prefix length. Our plan has no blocks, so it
  is not the endpoint width: the widths of such a network are chosen from all the bits it
  leaves, once its topology's needs are known (:mod:`romana.core.topology.widths`), with
  ``address_bits - block_mask`` (at least 2) as the floor of its endpoint bits. It must lie
  in ``prefixlen … address_bits``, as in v2, and cannot be given with ``endpoint_bits``.
  Tenant and segment widths the entry does not give are narrowed when the defaults leave
  less than that floor (:func:`romana.core.topology.widths.narrowed`).
* ``tenants`` lists the tenants that may use the network (names matching
  ``^[a-zA-Z0-9_.-]+$``); empty, absent, or v2's ``["*"]`` admits every tenant.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import cast

from romana.core import addressing, names
from romana.core.errors import InvalidInput, Issue, Issues
from romana.core.identifiers import TenantName
from romana.core.topology import model, widths

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
    pending: dict[str, _Pending] = field(default_factory=dict)
    """``block_mask`` networks whose widths wait for their topology's needs."""


@dataclass(frozen=True, slots=True)
class _Pending:
    where: str
    floor: addressing.Layout
    """The network validated with the narrowest endpoint field ``block_mask`` allows."""
    block_mask: int
    tenants: tuple[TenantName, ...]
    given: tuple[bool, bool]
    """Whether the entry gave its tenant_bits and its segment_bits (those are never narrowed)."""

    @property
    def room(self) -> widths.Room:
        lay = self.floor
        return widths.Room(lay.topology_bits + lay.endpoint_bits, lay.endpoint_bits)


def parse_networks(
    raw: object, issues: Issues, topologies: object = None, *, strict: bool = True
) -> Declared:
    """Parse the ``networks`` list, adding every problem to ``issues``.

    ``strict=False`` (a stored document of an earlier release) takes any non-empty name.

    ``topologies`` is the document's raw ``topologies`` list: the widths of a ``block_mask``
    network depend on the topology it is in. Its own problems are the parser's to report.
    """
    out = Declared()
    if raw is None:
        return out
    if not isinstance(raw, list):
        issues.add("networks", "must be a list")
        return out
    for i, item in enumerate(raw):
        _network(item, i, issues, out, strict)
    _overlaps(out, issues)
    _choose_widths(out, topologies, issues)
    return out


def _network(raw: object, i: int, issues: Issues, out: Declared, strict: bool) -> None:
    where = f"networks[{i}]"
    doc = model.check_object(raw, where, KEYS, issues)
    if not doc:
        return
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        issues.add(f"{where}.name", "must be a non-empty string")
        name = None
    elif strict and not names.check_network(name, f"{where}.name", issues):
        name = None
    elif name in out.names:
        issues.add(f"{where}.name", f"duplicate network name (networks[{out.names[name]}])")
        name = None
    else:
        out.names[name] = i
    tenants = _tenants(doc.get("tenants"), f"{where}.tenants", issues)
    endpoint_bits = doc.get("endpoint_bits")
    tenant_bits, segment_bits = doc.get("tenant_bits"), doc.get("segment_bits")
    block_mask = None
    if "block_mask" in doc:
        if "endpoint_bits" in doc:
            issues.add(where, "give endpoint_bits or block_mask, not both")
        block_mask = _block_mask(doc["block_mask"], doc.get("cidr"), name, where, issues)
        # Validated at its floor now; the width chosen later is never narrower.
        endpoint_bits = None if block_mask is None else block_mask[1]
        if block_mask is not None:
            tenant_bits, segment_bits = _fitted(doc, block_mask[1])
    cidr = doc.get("cidr")
    try:
        # addressing.layout checks that the widths are integers and reports the field.
        lay = addressing.layout(
            name or "?",
            cidr if isinstance(cidr, str) else "",
            cast("int | None", tenant_bits),
            cast("int | None", segment_bits),
            cast("int | None", endpoint_bits),
            field=where,
            tenants_configured=bool(tenants),
        )
    except InvalidInput as exc:
        if block_mask is None and "block_mask" in doc:
            # The widths were checked without the refused block_mask: their sum says nothing.
            issues.extend(i for i in exc.issues if i.field != where)
        elif block_mask is None:
            issues.extend(exc.issues)
        else:
            issues.extend(_at_floor(exc.issues, where, block_mask))
        return
    if name is None:
        return
    if block_mask is None:
        out.valid[name] = model.Network(lay, tenants)
    else:
        given = (doc.get("tenant_bits") is not None, doc.get("segment_bits") is not None)
        out.pending[name] = _Pending(where, lay, block_mask[0], tenants, given)


def _fitted(doc: Mapping[str, object], floor: int) -> tuple[object, object]:
    """The tenant and segment widths of a ``block_mask`` entry: the given ones, and for those
    not given the defaults, narrowed when the network then leaves fewer than ``floor``
    endpoint bits. Malformed input is returned as it is, for ``addressing.layout`` to report."""
    tenant_bits, segment_bits = doc.get("tenant_bits"), doc.get("segment_bits")
    try:
        net = ipaddress.ip_network(cast("str", doc.get("cidr")), strict=True)
    except (TypeError, ValueError):
        return tenant_bits, segment_bits
    default_t, default_s, _ = addressing.DEFAULT_WIDTHS[net.version]
    t = default_t if tenant_bits is None else tenant_bits
    s = default_s if segment_bits is None else segment_bits
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (t, s)):
        return tenant_bits, segment_bits
    assert isinstance(t, int) and isinstance(s, int)
    excess = t + s + floor - (net.max_prefixlen - net.prefixlen)
    fitted = widths.narrowed(t, s, excess, (tenant_bits is not None, segment_bits is not None))
    return fitted if fitted is not None else (tenant_bits, segment_bits)


def _at_floor(found: Iterable[Issue], where: str, block_mask: tuple[int, int]) -> list[Issue]:
    # The width sum is checked with endpoint bits the user did not write: say where they came from.
    return [
        Issue(
            i.field,
            f"{i.rule} (with endpoint_bits {block_mask[1]}, the fewest a block_mask of "
            f"{block_mask[0]} allows)",
        )
        if i.field == where
        else i
        for i in found
    ]


def _tenants(raw: object, where: str, issues: Issues) -> tuple[TenantName, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        issues.add(where, "must be a list of tenant names")
        return ()
    if ANY_TENANT in raw:
        if len(raw) > 1:
            issues.add(where, "'*' (every tenant) cannot be combined with names")
        return ()
    names: list[TenantName] = []
    for k, name in enumerate(raw):
        if not isinstance(name, str) or not TENANT_RE.match(name):
            issues.add(f"{where}[{k}]", f"tenant {name!r} must match ^[a-zA-Z0-9_.-]+$")
        elif name in names:
            issues.add(f"{where}[{k}]", f"duplicate tenant {name!r}")
        else:
            names.append(TenantName(name))
    return tuple(names)


def _block_mask(
    raw: object, cidr: object, name: str | None, where: str, issues: Issues
) -> tuple[int, int] | None:
    """``(block_mask, endpoint-bits floor)``: the mask and ``address bits - block_mask``, at
    least 2. Out of range, the message is Romana v2's."""
    if not isinstance(raw, int) or isinstance(raw, bool):
        issues.add(f"{where}.block_mask", "must be an integer")
        return None
    try:
        net = ipaddress.ip_network(cidr if isinstance(cidr, str) else "", strict=True)
    except ValueError:
        return None  # addressing.layout reports the cidr
    if not net.prefixlen <= raw <= net.max_prefixlen:
        issues.add(
            f"{where}.block_mask",
            f"invalid blockmask({raw}) for network({name or net}), must be "
            f"{net.prefixlen} <= blockmask <= {net.max_prefixlen}",
        )
        return None
    # The endpoint field holds the gateway's ordinal and at least one endpoint: 2 bits.
    return raw, max(2, net.max_prefixlen - raw)


def _choose_widths(out: Declared, topologies: object, issues: Issues) -> None:
    """Give every ``block_mask`` network its endpoint bits (rule in :mod:`.widths`)."""
    for t, entry in enumerate(topologies if isinstance(topologies, list) else []):
        names = entry.get("networks") if isinstance(entry, Mapping) else None
        if not isinstance(names, list):
            continue
        listed = list(dict.fromkeys(n for n in names if isinstance(n, str)))
        waiting = [n for n in listed if n in out.pending]
        if not waiting:
            continue
        # Unequal explicit widths are the parser's to report; any one of them will do here.
        fixed = next((out.valid[n].layout.topology_bits for n in listed if n in out.valid), None)
        need = widths.tree_bits(cast("Mapping[str, object]", entry).get("map"))
        bits = widths.shared_topology_bits((out.pending[n].room for n in waiting), fixed, need)
        why = (
            f"topologies[{t}] needs {need} topology bits for its groups and listed hosts"
            if fixed is None
            else f"topologies[{t}] has {fixed} topology bits (set by the widths of its other "
            "networks)"
        )
        for name in waiting:
            _settle(out, name, bits, why, issues)
    for name in list(out.pending):  # in no topology: nothing constrains its topology bits
        bits = widths.shared_topology_bits([out.pending[name].room], None, 0)
        _settle(out, name, bits, "", issues)


def _settle(out: Declared, name: str, topology_bits: int, why: str, issues: Issues) -> None:
    pending = out.pending.pop(name)
    lay, room = pending.floor, pending.room
    endpoint_bits = room.bits - topology_bits
    fitted = widths.narrowed(
        lay.tenant_bits, lay.segment_bits, room.floor - endpoint_bits, pending.given
    )
    if endpoint_bits < room.floor and fitted is not None:
        # Narrower defaulted tenant and segment fields make room for one v2 block.
        tenant_bits, segment_bits = fitted
        endpoint_bits = room.floor
    else:
        tenant_bits, segment_bits = lay.tenant_bits, lay.segment_bits
    if endpoint_bits < room.floor:
        issues.add(
            f"{pending.where}.block_mask",
            f"{why}; with tenant_bits {lay.tenant_bits} and segment_bits {lay.segment_bits} the "
            f"/{lay.cidr.prefixlen} network then leaves {max(endpoint_bits, 0)} endpoint bits, "
            f"fewer than the {room.floor} of a /{pending.block_mask} block",
        )
        return
    chosen = addressing.layout(name, str(lay.cidr), tenant_bits, segment_bits, endpoint_bits)
    out.valid[name] = model.Network(chosen, pending.tenants)


def _overlaps(out: Declared, issues: Issues) -> None:
    seen: list[tuple[int, addressing.Layout]] = []
    for name, i in out.names.items():
        pending = out.pending.get(name)
        lay = pending.floor if pending else out.valid[name].layout if name in out.valid else None
        if lay is None:
            continue
        for j, other in seen:
            a, b = lay.cidr, other.cidr
            if a.version == b.version and a.overlaps(b):
                issues.add(
                    f"networks[{i}].cidr",
                    f"{a} overlaps networks[{j}] {other.name!r} ({b}): "
                    "no network may contain another",
                )
        seen.append((i, lay))
