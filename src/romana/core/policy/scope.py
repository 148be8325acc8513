"""What compiling one policy reads of the tenancy, as hashable values: the compiler's memo keys.

A policy's chains depend on the policy and on little else: the networks and address
families (:class:`Frame`), the tenants its references select (:class:`FrozenTenant`, sorted
by name) and which of the address sets it names are defined. :class:`Scope` is exactly that,
so ``(policy, scope)`` keys the memo of compiled policies soundly: a resolver that sees only
the scope resolves the policy as one that sees everything does.

:class:`Tenancy` indexes one tenancy (tenants by name, external id and number) and answers
"which tenants does this reference select" and "what is this policy's scope". It is shared
by every compilation over an equal tenancy (:func:`tenancy`), so those answers, remembered
per reference and per policy object, outlive one compilation: recompiling after a policy
change looks up, rather than recomputes, the scopes of all the others.

Values are interned (equal tenants and frames are one object), so memo hits compare keys by
identity instead of field by field.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from romana.core import addressing, memo
from romana.core import tenancy as tenancy_mod
from romana.core.policy import model

# Interned values kept: a few times the tenants (and far more than the networks) of a host.
INTERNED = 16384
# Tenancies kept: the one in force and the one before it (a caller comparing two). Each
# remembers a scope per policy and, in the compiler, a compiled part per policy: one kept
# after it was replaced holds a whole generation of those.
TENANCIES = 2
# Policies remembered per tenancy: well above the 2,000 a host is sized for.
POLICIES = 8192


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

    @property
    def isolation(self) -> tenancy_mod.Isolation:
        """How the tenant's endpoints are isolated when no policy says otherwise."""


@dataclass(frozen=True, slots=True)
class Frame(memo.HashedOnce):
    """The networks (sorted by name) and address families one compilation works in."""

    layouts: tuple[tuple[str, addressing.Layout], ...]
    versions: tuple[int, ...]
    _hash: int = field(init=False, repr=False, compare=False)
    __hash__ = memo.HashedOnce.__hash__  # in the class body, or dataclass writes its own

    def _fields(self) -> tuple[object, ...]:
        return (self.layouts, self.versions)

    @classmethod
    def of(cls, layouts: Mapping[str, addressing.Layout], versions: Sequence[int]) -> Frame:
        """Interned: equal frames give the same object."""
        return _interned_frame(cls(tuple(sorted(layouts.items())), tuple(versions)))


@dataclass(frozen=True, slots=True)
class FrozenTenant(memo.HashedOnce):
    """A tenant as a hashable value; a :class:`TenantLike`."""

    name: str
    external_id: str
    id_items: tuple[tuple[str, int], ...]
    segment_items: tuple[tuple[str, int], ...]
    isolation: tenancy_mod.Isolation = tenancy_mod.ROMANA
    _hash: int = field(init=False, repr=False, compare=False)
    __hash__ = memo.HashedOnce.__hash__

    def _fields(self) -> tuple[object, ...]:
        return (self.name, self.external_id, self.id_items, self.segment_items, self.isolation)

    @property
    def ids(self) -> Mapping[str, int]:
        return dict(self.id_items)

    @property
    def segments(self) -> Mapping[str, int]:
        return dict(self.segment_items)

    @classmethod
    def of(cls, tenant: TenantLike) -> FrozenTenant:
        """``tenant`` as a value, interned: equal tenants give the same object."""
        if isinstance(tenant, FrozenTenant):
            return tenant
        return _frozen_tenant(
            tenant.name,
            tenant.external_id,
            tuple(sorted(tenant.ids.items())),
            tuple(sorted(tenant.segments.items())),
            tenant.isolation,
        )


@functools.lru_cache(maxsize=INTERNED)
def _frozen_tenant(
    name: str,
    external_id: str,
    id_items: tuple[tuple[str, int], ...],
    segment_items: tuple[tuple[str, int], ...],
    isolation: tenancy_mod.Isolation,
) -> FrozenTenant:
    return FrozenTenant(name, external_id, id_items, segment_items, isolation)


@functools.lru_cache(maxsize=INTERNED)
def _interned_frame(frame: Frame) -> Frame:
    return frame


class Scope(NamedTuple):
    """Everything of the tenancy that resolving one policy's endpoints reads.

    ``tenants``: those the policy's tenant references select, sorted by name;
    ``address_sets``: the names it references that are defined. A named tuple rather than a
    dataclass: one is made, hashed and compared per policy, and tuples do that in C.
    """

    frame: Frame
    tenants: tuple[FrozenTenant, ...]
    address_sets: frozenset[str]


@dataclass(frozen=True, slots=True)
class References:
    """The tenant references and address-set names a policy's endpoints hold, each once."""

    tenants: tuple[model.TenantRef, ...]
    address_sets: tuple[str, ...]


def _references(policy: model.Policy) -> References:
    endpoints = list(policy.applied_to)
    for clause in (*policy.ingress, *policy.egress):
        endpoints += clause.peers
        endpoints += clause.targets
    tenants = dict.fromkeys(e.tenant for e in endpoints if e.tenant is not None)
    sets = dict.fromkeys(e.address_set for e in endpoints if e.address_set is not None)
    return References(tuple(tenants), tuple(sets))


references = memo.ByIdentity(_references, POLICIES)
"""``references(policy)``: what of the tenancy and the address sets ``policy`` names."""

_NO_SETS: frozenset[str] = frozenset()


class Tenancy:
    """One tenancy indexed for resolving references; see the module docstring.

    ``tenants`` are sorted by name, and so is every answer. Build with :func:`tenancy` to
    share the instance (and what it remembers) with other compilations of an equal tenancy.
    """

    def __init__(
        self, frame: Frame, tenants: tuple[FrozenTenant, ...], address_sets: frozenset[str]
    ) -> None:
        self.frame = frame
        self.tenants = tenants
        self.address_sets = address_sets
        self.by_name = {t.name: t for t in tenants}
        self._by_external: dict[str, list[FrozenTenant]] = {}
        self._by_number: dict[int, list[FrozenTenant]] = {}
        for t in tenants:
            if t.external_id:
                self._by_external.setdefault(t.external_id, []).append(t)
            for number in {n for _, n in t.id_items}:
                self._by_number.setdefault(number, []).append(t)
        self._selected: dict[model.TenantRef, tuple[FrozenTenant, ...]] = {}
        self.scope = memo.ByIdentity(self._scope, POLICIES)
        """``scope(policy)``: the :class:`Scope` of ``policy`` in this tenancy."""

    def select(self, ref: model.TenantRef) -> tuple[FrozenTenant, ...]:
        """The tenants ``ref`` selects: every field it gives must hold."""
        found = self._selected.get(ref)
        if found is None:
            found = tuple(
                t
                for t in self._candidates(ref)
                if (ref.name is None or t.name == ref.name)
                and (ref.external_id is None or (t.external_id or None) == ref.external_id)
                and (ref.number is None or ref.number in t.ids.values())
            )
            self._selected[ref] = found
        return found

    def _candidates(self, ref: model.TenantRef) -> Sequence[FrozenTenant]:
        """The tenants one field of ``ref`` selects, a superset of what ``ref`` selects."""
        if ref.name is not None:
            one = self.by_name.get(ref.name)
            return [one] if one is not None else []
        if ref.external_id is not None:
            return self._by_external.get(ref.external_id, [])
        if ref.number is not None:
            return self._by_number.get(ref.number, [])
        return self.tenants

    def _scope(self, policy: model.Policy) -> Scope:
        refs = references(policy)
        tenants: dict[str, FrozenTenant] = {}
        for ref in refs.tenants:
            for t in self.select(ref):
                tenants[t.name] = t
        sets = _NO_SETS
        if refs.address_sets:
            sets = frozenset(filter(self.address_sets.__contains__, refs.address_sets))
        return Scope(self.frame, tuple(map(tenants.__getitem__, sorted(tenants))), sets)


@functools.lru_cache(maxsize=TENANCIES)
def tenancy(
    frame: Frame, tenants: tuple[FrozenTenant, ...], address_sets: frozenset[str]
) -> Tenancy:
    """The shared :class:`Tenancy` of these values (``tenants`` sorted by name)."""
    return Tenancy(frame, tenants, address_sets)
