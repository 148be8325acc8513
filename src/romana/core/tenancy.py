"""Tenants and segments: names, numbering and which networks a tenant uses.

A tenant has one id in each network it is pinned to; a segment id is per tenant and the
same in every network of that tenant. Numbering is lowest-free-first; an id is reused only
when nothing holds it (the owning tenant or segment is gone and no address carries it —
services enforce the second half by refusing to delete a tenant or segment that still
holds addresses).

Invariants:

* Tenant id 0 is the infrastructure tenant in every network and is never given to a user
  tenant; user ids run 1 … ``layout.max_tenant``.
* Segment ``default`` always exists with id 0; other segments get 1 … the smallest
  ``max_segment`` over the tenant's networks, so a segment id fits every network it is used in.
* A tenant is pinned either to the networks it names, or — when it names none — to the first
  network of each IP family (in topology order) that admits it and still has a free id.
* Every tenant carries its :class:`Isolation`, set when it is created and changed only by an
  admin; nothing else (no policy name, no label) decides how its endpoints are isolated.
* Segment names of a tenant are unique ignoring case (:func:`romana.core.names.clash`); a
  segment is looked up in the spelling it was created with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from romana.core import addressing, names
from romana.core.errors import AlreadyExists, Conflict, Exhausted, InvalidInput, Issues, NotFound
from romana.core.identifiers import NetworkName, SegmentName, TenantName

NAME_RE = names.NAME_RE
NAME_RULE = names.NAME_RULE
DEFAULT_SEGMENT = SegmentName("default")


class Mode(StrEnum):
    """How a tenant's endpoints are isolated when no policy says otherwise.

    ``romana``: tenant and segment isolation — an endpoint accepts its own tenant and segment
    (every segment of its tenant when :attr:`Isolation.segments` is ``open``) and the
    infrastructure; everything else needs an allow policy. ``kubernetes``: NetworkPolicy
    semantics — an endpoint no ingress policy selects accepts everything; one that a policy
    selects accepts only what such policies allow."""

    ROMANA = "romana"
    KUBERNETES = "kubernetes"


class Segments(StrEnum):
    """In ``romana`` mode, whether segments of one tenant reach each other without a policy."""

    ISOLATED = "isolated"
    OPEN = "open"


@dataclass(frozen=True, slots=True)
class Isolation:
    mode: Mode = Mode.ROMANA
    segments: Segments = Segments.ISOLATED

    def __str__(self) -> str:
        if self.mode is Mode.KUBERNETES:
            return str(self.mode)
        return f"{self.mode}, segments {self.segments}"

    def to_dict(self) -> dict[str, str]:
        return {"mode": self.mode.value, "segments": self.segments.value}

    @classmethod
    def parse(cls, raw: object, where: str = "isolation") -> Isolation:
        """``{"mode": ..., "segments": ...}`` (either may be left out); InvalidInput names the
        field and the values it takes."""
        if raw is None:
            return cls()
        issues = Issues()
        if not isinstance(raw, Mapping):
            issues.add(where, 'must be an object such as {"mode": "romana", "segments": "open"}')
            issues.raise_if_any()
        assert isinstance(raw, Mapping)
        for key in sorted(set(raw) - {"mode", "segments"}):
            issues.add(f"{where}.{key}", "is not a field: give mode and/or segments")
        mode = raw.get("mode", Mode.ROMANA.value)
        segments = raw.get("segments", Segments.ISOLATED.value)
        if mode not in {m.value for m in Mode}:
            issues.add(f"{where}.mode", f"must be one of {', '.join(m.value for m in Mode)}")
        if segments not in {s.value for s in Segments}:
            issues.add(
                f"{where}.segments", f"must be one of {', '.join(s.value for s in Segments)}"
            )
        issues.raise_if_any()
        return cls(Mode(mode), Segments(segments))


ROMANA = Isolation()
KUBERNETES = Isolation(Mode.KUBERNETES)


@dataclass(frozen=True, slots=True)
class NetworkAdmission:
    """Which tenants a network admits: ``names`` empty means every tenant."""

    layout: addressing.Layout
    names: frozenset[TenantName] = frozenset()

    def admits(self, tenant: TenantName) -> bool:
        return not self.names or tenant in self.names


@dataclass(frozen=True, slots=True)
class Tenant:
    name: TenantName
    external_id: str
    ids: Mapping[str, int]
    """Network name → tenant id in that network."""
    segments: Mapping[str, int] = field(default_factory=lambda: {DEFAULT_SEGMENT: 0})
    """Segment name → segment id."""
    requested_networks: tuple[NetworkName, ...] = ()
    """The networks the tenant asked for; empty means automatic pinning."""
    isolation: Isolation = ROMANA
    uid: str = ""
    """Random, set when the tenant is created and never changed: what tenant users are bound
    to, so a new tenant of a deleted one's name is another tenant. Empty only for a record an
    earlier release stored, until romanad's start gives it one (services.upgrade)."""
    owner: str = ""
    """The user name of the ``openstack``-role user that acts in the tenant: its creator when
    such a user created it, or the user an admin named at creation; empty for none."""

    def segment_id(self, segment: SegmentName) -> int:
        try:
            return self.segments[segment]
        except KeyError:
            raise NotFound(f"tenant {self.name!r} has no segment {segment!r}") from None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "name": self.name,
            "external_id": self.external_id,
            "ids": dict(sorted(self.ids.items())),
            "segments": dict(sorted(self.segments.items(), key=lambda kv: kv[1])),
            "requested_networks": list(self.requested_networks),
            "isolation": self.isolation.to_dict(),
        }
        if self.uid:
            out["uid"] = self.uid
        if self.owner:
            out["owner"] = self.owner
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> Tenant:
        ids = raw.get("ids", {})
        segments = raw.get("segments", {DEFAULT_SEGMENT: 0})
        networks = raw.get("requested_networks", [])
        assert isinstance(ids, Mapping) and isinstance(segments, Mapping)
        assert isinstance(networks, list)
        return cls(
            name=TenantName(str(raw["name"])),
            external_id=str(raw.get("external_id") or ""),
            ids={str(k): int(v) for k, v in ids.items()},
            segments={str(k): int(v) for k, v in segments.items()},
            requested_networks=tuple(NetworkName(str(n)) for n in networks),
            isolation=Isolation.parse(raw.get("isolation")),
            uid=str(raw.get("uid") or ""),
            owner=str(raw.get("owner") or ""),
        )


def check_name(value: str, field_name: str, issues: Issues) -> None:
    if not names.matches(NAME_RE, value):
        issues.add(field_name, NAME_RULE)


def lowest_free(used: Iterable[int], first: int, last: int) -> int | None:
    """The smallest integer in ``first..last`` not in ``used``, or None when all are taken."""
    taken = set(used)
    for candidate in range(first, last + 1):
        if candidate not in taken:
            return candidate
    return None


def pin_networks(
    tenant: TenantName,
    requested: Sequence[NetworkName],
    networks: Sequence[NetworkAdmission],
    used_ids: Mapping[str, Iterable[int]],
) -> dict[str, int]:
    """Choose the tenant's networks and its id in each.

    ``networks`` are in topology order; ``used_ids`` gives the ids already held per network.
    Raises InvalidInput for an unknown or non-admitting requested network and Exhausted
    (naming networks and capacities) when no admissible network has a free id.
    """
    by_name = {n.layout.name: n for n in networks}
    issues = Issues()
    for i, name in enumerate(requested):
        if name not in by_name:
            issues.add(f"networks[{i}]", f"unknown network {name!r}")
        elif not by_name[name].admits(tenant):
            issues.add(f"networks[{i}]", f"network {name!r} does not admit tenant {tenant!r}")
    issues.raise_if_any()

    def free_id(net: NetworkAdmission) -> int | None:
        return lowest_free(used_ids.get(net.layout.name, ()), 1, net.layout.max_tenant)

    chosen: dict[str, int] = {}
    if requested:
        for name in requested:
            net = by_name[name]
            tid = free_id(net)
            if tid is None:
                raise Exhausted(
                    f"network {name!r} has no free tenant id: its {net.layout.tenant_bits} "
                    f"tenant bits hold {net.layout.max_tenant} user tenants"
                )
            chosen[name] = tid
        return chosen
    admitting = [n for n in networks if n.admits(tenant)]
    if not admitting:
        raise InvalidInput(f"no network admits tenant {tenant!r}")
    for family in (4, 6):
        for net in (n for n in admitting if n.layout.version == family):
            tid = free_id(net)
            if tid is not None:
                chosen[net.layout.name] = tid
                break
    if not chosen:
        capacities = ", ".join(
            f"{n.layout.name} ({n.layout.max_tenant} tenants)" for n in admitting
        )
        raise Exhausted(f"no tenant id free for {tenant!r} in any admitting network: {capacities}")
    return chosen


def segment_capacity(tenant: Tenant, layouts: Mapping[str, addressing.Layout]) -> int:
    """Highest segment id usable by this tenant (the narrowest segment field wins)."""
    widths = [layouts[n].max_segment for n in tenant.ids if n in layouts]
    return min(widths) if widths else 0


def add_segment(
    tenant: Tenant, segment: SegmentName, layouts: Mapping[str, addressing.Layout]
) -> Tenant:
    """A copy of ``tenant`` with ``segment`` numbered lowest-free-first."""
    issues = Issues()
    check_name(segment, "segment", issues)
    issues.raise_if_any()
    same = names.clash(segment, tenant.segments)
    if same is not None:
        # Unique ignoring case, so a segment cannot be mistaken for another by its spelling.
        raise AlreadyExists(f"tenant {tenant.name!r} already has segment {same!r}")
    cap = segment_capacity(tenant, layouts)
    sid = lowest_free(tenant.segments.values(), 0, cap)
    if sid is None:
        raise Exhausted(
            f"tenant {tenant.name!r} has no free segment id: its networks hold {cap + 1} segments"
        )
    return replace(tenant, segments={**tenant.segments, segment: sid})


def remove_segment(tenant: Tenant, segment: SegmentName) -> Tenant:
    if segment == DEFAULT_SEGMENT:
        raise Conflict(f"segment {DEFAULT_SEGMENT!r} cannot be removed")
    if segment not in tenant.segments:
        raise NotFound(f"tenant {tenant.name!r} has no segment {segment!r}")
    return replace(tenant, segments={k: v for k, v in tenant.segments.items() if k != segment})
