"""Resolve policy endpoints against the tenancy into targets and address matches; name chains.

A *target* is a place in the compiled ruleset that policies attach to: every local endpoint,
the host itself, a tenant, a tenant's segment, or a named address set. A *peer* becomes a
list of alternative match tuples (any one of them matching is enough):

* tenant / segment: one masked address match per network the tenant has an id in, built
  from :func:`addressing.tenant_match` / :func:`addressing.segment_match` — never anything
  per endpoint;
* host, local and address sets: one set match per address family;
* cidr: one prefix match; any: the empty tuple (matches everything).

A reference that names no known tenant, segment or set resolves to nothing; the resolver
records a note saying so instead of failing, because the tenancy and the policies change
independently and a later compilation picks the object up once it exists.

Names: every chain and set we create is ``romana-`` plus readable tokens when they are short
and plain (``[a-z0-9-]``), or ``_`` plus ten hex digits of SHA-1 otherwise. Plain tokens never
contain ``_`` or ``.``, so a hashed token can never equal a plain one and ``tenant.segment``
splits one way only.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from romana.core import addressing, ruleset
from romana.core.policy import model

_PLAIN = re.compile(r"^[a-z0-9][a-z0-9-]*$")
DEFAULT_SEGMENT_NAME = "default"

Alternatives = list[tuple[ruleset.MatchExpr, ...]]


def token(text: str, room: int) -> str:
    """``text`` when it is plain and fits ``room`` characters, otherwise a stable hash."""
    if _PLAIN.match(text) and len(text) <= room:
        return text
    return "_" + hashlib.sha1(text.encode()).hexdigest()[:10]


def chain_name(stem: str, *parts: str) -> str:
    """``romana-<stem>-<part>[.<part>]`` within the iptables length limit."""
    room = ruleset.MAX_CHAIN_NAME - len(ruleset.PREFIX) - len(stem) - 1
    plain = ".".join(parts)
    if all(_PLAIN.match(p) for p in parts) and len(plain) <= room:
        return f"{ruleset.PREFIX}{stem}-{plain}"
    return f"{ruleset.PREFIX}{stem}-{token(chr(0).join(parts) + chr(0), 0)}"


def set_name(stem: str, version: int, name: str = "") -> str:
    """``romana-<stem>[-<name>]-<4|6>`` within the set-name limit."""
    if not name:
        return f"{ruleset.PREFIX}{stem}-{version}"
    room = ruleset.MAX_SET_NAME - len(ruleset.PREFIX) - len(stem) - 4
    return f"{ruleset.PREFIX}{stem}-{token(name, room)}-{version}"


class TenantLike(Protocol):
    """What the compiler reads of a tenant; :class:`romana.core.tenancy.Tenant` fits."""

    @property
    def name(self) -> str: ...
    @property
    def external_id(self) -> str: ...
    @property
    def ids(self) -> Mapping[str, int]:
        """Network name -> the tenant's id in that network."""

    @property
    def segments(self) -> Mapping[str, int]:
        """Segment name -> segment id (the same in every network of the tenant)."""


@dataclass(frozen=True, slots=True)
class Tenant:
    """A tenant given directly (tests, tools); any :class:`TenantLike` will do."""

    name: str
    ids: Mapping[str, int]
    segments: Mapping[str, int] = field(default_factory=dict)
    external_id: str = ""


def segment_id(tenant: TenantLike, name: str) -> int | None:
    if name in tenant.segments:
        return tenant.segments[name]
    return addressing.DEFAULT_SEGMENT if name == DEFAULT_SEGMENT_NAME else None


def segment_label(tenant: TenantLike, segment: int) -> str:
    """The segment's name for chain names: its (first) name, else its number."""
    names = sorted(n for n, i in tenant.segments.items() if i == segment)
    if names:
        return names[0]
    return DEFAULT_SEGMENT_NAME if segment == addressing.DEFAULT_SEGMENT else str(segment)


class TargetKind(StrEnum):
    LOCAL = "local"
    HOST = "host"
    TENANT = "tenant"
    SEGMENT = "segment"
    SET = "set"


@dataclass(frozen=True, slots=True, order=True)
class Target:
    kind: TargetKind
    tenant: str = ""
    segment: int = 0
    address_set: str = ""


class HashedOnce:
    """A frozen value that hashes its fields once: it keys memos many times per compilation.

    Pickling rebuilds it through the constructor, because string hashes differ between
    processes."""

    __slots__ = ()

    def _fields(self) -> tuple[object, ...]:
        raise NotImplementedError

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash(self._fields()))

    def __hash__(self) -> int:
        return self._hash  # type: ignore[attr-defined, no-any-return]

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (type(self), self._fields())


@dataclass(frozen=True, slots=True)
class Frame(HashedOnce):
    """The networks (sorted by name) and address families one compilation works in."""

    layouts: tuple[tuple[str, addressing.Layout], ...]
    versions: tuple[int, ...]
    _hash: int = field(init=False, repr=False, compare=False)
    __hash__ = HashedOnce.__hash__  # in the class body, or dataclass writes its own

    def _fields(self) -> tuple[object, ...]:
        return (self.layouts, self.versions)


@dataclass(frozen=True, slots=True)
class FrozenTenant(HashedOnce):
    """A tenant as a hashable value, so that what a compilation read can key a memo."""

    name: str
    external_id: str
    id_items: tuple[tuple[str, int], ...]
    segment_items: tuple[tuple[str, int], ...]
    _hash: int = field(init=False, repr=False, compare=False)
    __hash__ = HashedOnce.__hash__

    def _fields(self) -> tuple[object, ...]:
        return (self.name, self.external_id, self.id_items, self.segment_items)

    @property
    def ids(self) -> Mapping[str, int]:
        return dict(self.id_items)

    @property
    def segments(self) -> Mapping[str, int]:
        return dict(self.segment_items)

    @classmethod
    def of(cls, tenant: TenantLike) -> FrozenTenant:
        """``tenant`` as a value, interned: equal tenants give the same object."""
        frozen = cls(
            tenant.name,
            tenant.external_id,
            tuple(sorted(tenant.ids.items())),
            tuple(sorted(tenant.segments.items())),
        )
        return _interned_tenant(frozen)


# Equal values as one object: a memo hit then compares keys by identity, not field by field.
# Entries: a few times the tenants (and far more than the networks) a host is sized for.
_INTERNED = 16384


@functools.lru_cache(maxsize=_INTERNED)
def _interned_tenant(tenant: FrozenTenant) -> FrozenTenant:
    return tenant


@functools.lru_cache(maxsize=_INTERNED)
def _interned_frame(frame: Frame) -> Frame:
    return frame


@dataclass(frozen=True, slots=True)
class Scope:
    """Everything of a :class:`Resolver` that resolving one policy's endpoints reads.

    ``tenants`` are those the policy's tenant references select (sorted by name) and
    ``address_sets`` the names it references that are defined. A resolver built from the
    scope (:meth:`Resolver.of_scope`) resolves that policy exactly as the full one does —
    the same targets, matches and notes — so ``(policy, scope)`` is a sound memo key.
    """

    frame: Frame
    tenants: tuple[FrozenTenant, ...]
    address_sets: frozenset[str]


class Resolver:
    """Turns endpoints into targets and peer matches for one host's compilation."""

    def __init__(
        self,
        layouts: Mapping[str, addressing.Layout],
        tenants: Sequence[TenantLike],
        address_sets: Mapping[str, object],
        versions: Sequence[int],
    ) -> None:
        self.layouts = {name: layouts[name] for name in sorted(layouts)}
        self.tenants = sorted(tenants, key=lambda t: t.name)
        self.by_name = {t.name: t for t in self.tenants}
        # Indexes for _find: every list keeps the name order of self.tenants.
        self._by_external: dict[str, list[TenantLike]] = {}
        self._by_number: dict[int, list[TenantLike]] = {}
        for t in self.tenants:
            if t.external_id:
                self._by_external.setdefault(t.external_id, []).append(t)
            for number in set(t.ids.values()):
                self._by_number.setdefault(number, []).append(t)
        self.address_sets = address_sets
        self.versions = tuple(versions)
        self.frame = _interned_frame(Frame(tuple(self.layouts.items()), self.versions))
        self.notes: list[str] = []
        self._selected: dict[model.TenantRef, list[TenantLike]] = {}
        self._frozen: dict[str, FrozenTenant] = {}
        self._frozen_selected: dict[model.TenantRef, list[FrozenTenant]] = {}

    @classmethod
    def of_scope(cls, scope: Scope) -> Resolver:
        """A resolver that sees only ``scope``; see :class:`Scope`."""
        return cls(
            dict(scope.frame.layouts),
            scope.tenants,
            {name: () for name in scope.address_sets},
            scope.frame.versions,
        )

    def frozen(self, tenant: TenantLike) -> FrozenTenant:
        """``tenant`` (one of this resolver's) as a value; made once per resolver."""
        found = self._frozen.get(tenant.name)
        if found is None:
            found = self._frozen[tenant.name] = FrozenTenant.of(tenant)
        return found

    def scope(self, policy: model.Policy) -> Scope:
        """What of this resolver resolving ``policy``'s endpoints reads."""
        endpoints = list(policy.applied_to)
        for clause in (*policy.ingress, *policy.egress):
            endpoints += clause.peers
        tenants: dict[str, FrozenTenant] = {}
        sets: set[str] = set()
        for endpoint in endpoints:
            ref = endpoint.tenant
            if ref is not None:
                selected = self._frozen_selected.get(ref)
                if selected is None:
                    selected = [self.frozen(t) for t in self._select(ref)]
                    self._frozen_selected[ref] = selected
                for frozen in selected:
                    tenants[frozen.name] = frozen
            if endpoint.address_set is not None and endpoint.address_set in self.address_sets:
                sets.add(endpoint.address_set)
        ordered = tuple(tenants[name] for name in sorted(tenants))
        return Scope(self.frame, ordered, frozenset(sets))

    def _candidates(self, ref: model.TenantRef) -> Sequence[TenantLike]:
        """The tenants one field of ``ref`` selects, a superset of what ``ref`` selects."""
        if ref.name is not None:
            one = self.by_name.get(ref.name)
            return [one] if one is not None else []
        if ref.external_id is not None:
            return self._by_external.get(ref.external_id, [])
        if ref.number is not None:
            return self._by_number.get(ref.number, [])
        return self.tenants

    def _select(self, ref: model.TenantRef) -> list[TenantLike]:
        found = self._selected.get(ref)
        if found is None:
            found = self._selected[ref] = [
                t
                for t in self._candidates(ref)
                if (ref.name is None or t.name == ref.name)
                and (ref.external_id is None or (t.external_id or None) == ref.external_id)
                and (ref.number is None or ref.number in t.ids.values())
            ]
        return found

    def _find(self, ref: model.TenantRef, where: str) -> list[TenantLike]:
        found = self._select(ref)
        if not found:
            self.notes.append(f"{where}: no {ref} is known; it selects nothing")
        return found

    def _segments(self, tenant: TenantLike, ref: model.SegmentRef, where: str) -> list[int]:
        segment = segment_id(tenant, ref.name) if ref.name is not None else ref.number
        if segment is None:
            self.notes.append(f"{where}: tenant {tenant.name} has no {ref}; it selects nothing")
            return []
        return [segment]

    def targets(self, endpoint: model.Endpoint, where: str) -> list[Target]:
        kind = endpoint.kind
        if kind is model.Kind.LOCAL:
            return [Target(TargetKind.LOCAL)]
        if kind is model.Kind.HOST:
            return [Target(TargetKind.HOST)]
        if kind is model.Kind.ADDRESS_SET:
            assert endpoint.address_set is not None
            self._check_set(endpoint.address_set, where)
            return [Target(TargetKind.SET, address_set=endpoint.address_set)]
        assert endpoint.tenant is not None
        tenants = self._find(endpoint.tenant, where)
        if endpoint.segment is None:
            return [Target(TargetKind.TENANT, t.name) for t in tenants]
        return [
            Target(TargetKind.SEGMENT, t.name, s)
            for t in tenants
            for s in self._segments(t, endpoint.segment, where)
        ]

    def peer(self, endpoint: model.Endpoint, side: ruleset.Side, where: str) -> Alternatives:
        kind = endpoint.kind
        if kind is model.Kind.ANY:
            return [()]
        if kind is model.Kind.CIDR:
            net = endpoint.cidr
            assert net is not None
            match = addressing.Match(net.version, int(net.network_address), int(net.netmask))
            return [(ruleset.Address(side, match),)]
        if kind in (model.Kind.HOST, model.Kind.LOCAL):
            stem = "host" if kind is model.Kind.HOST else "local"
            return [(ruleset.InSet(side, set_name(stem, v), v),) for v in self.versions]
        if kind is model.Kind.ADDRESS_SET:
            assert endpoint.address_set is not None
            self._check_set(endpoint.address_set, where)
            return [
                (ruleset.InSet(side, set_name("set", v, endpoint.address_set), v),)
                for v in self.versions
            ]
        return [
            (ruleset.Address(side, match),)
            for target in self.targets(endpoint, where)
            for match in self.matches(target)
        ]

    def matches(self, target: Target) -> list[addressing.Match]:
        """The masked matches of a tenant or segment target, one per network it lives in."""
        tenant = self.by_name[target.tenant]
        out = []
        for network, lay in self.layouts.items():
            if network not in tenant.ids:
                continue
            if target.kind is TargetKind.TENANT:
                out.append(addressing.tenant_match(lay, tenant.ids[network]))
            elif target.segment <= lay.max_segment:
                out.append(addressing.segment_match(lay, tenant.ids[network], target.segment))
        return out

    def _check_set(self, name: str, where: str) -> None:
        if name not in self.address_sets:
            self.notes.append(f"{where}: address set {name!r} is not defined; it is empty")
