"""Per-tenant quotas: how many policies, allocations and segments one tenant may hold.

One tenant must not be able to load every agent and romanad with objects of its own, so each
tenant's count of policies, allocations (addresses held, one per key) and segments is capped.
An admin sets the *defaults* (``quotas/defaults``) and may *override* any of them for one
tenant (``quotas/tenants/<tenant>``); what is not stored falls back to :data:`BUILTIN`.

Invariants:

* A refusal is :class:`~romana.core.errors.QuotaExceeded` naming tenant, quota, limit and
  usage and how to raise it, raised before anything is written: the request changes nothing.
* Allocations are counted in :data:`COUNTERS` counters per tenant
  (``usage/<tenant>/allocations/<n>``), whose sum is what the tenant holds; each allocation
  and release rewrites the counter its key hashes to, in its own transaction. Far from the
  limit only that counter is guarded, so allocations of one tenant (on every host and
  replica) conflict only when their keys share a counter; within :data:`COUNTERS` of the
  limit every counter is guarded, so concurrent allocations cannot together pass it.
* A tenant an earlier release stored has no counters yet: its first allocation counts the
  tenant's records and stores the count, guarding that no allocation record changed
  meanwhile; until then a release changes no counter.
* Segments are counted in the tenant record itself, which every segment change guards.
* Policies are counted, and refused, by :mod:`romana.services.policy`: the keys under the
  tenant's own policy prefix, that range guarded unchanged.
* Lowering a quota below what a tenant holds takes nothing away; it only refuses more.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from romana.core.errors import Issues, NotFound, QuotaExceeded
from romana.core.identifiers import AllocationKey, TenantName
from romana.core.store import Delete, KeyValue, Put, Store
from romana.services import keys, txn

QUOTAS = ("policies", "allocations", "segments")
COUNTERS = 16
"""Allocation counters per tenant: how many allocations of one tenant can commit at once
without conflicting, and how close to the limit every counter starts being guarded."""
MAXIMUM = 1 << 31
"""The largest quota accepted: far above what any address plan or store can hold."""


@dataclass(frozen=True, slots=True)
class Limits:
    """How many of each a tenant may hold."""

    policies: int
    """Romana policies stored for the tenant (a translated NetworkPolicy is one)."""
    allocations: int
    """Endpoint allocations held at once, each counted once whatever its address count."""
    segments: int
    """Segments the tenant defines."""

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)

    def with_(self, changes: Mapping[str, int]) -> Limits:
        return dataclasses.replace(self, **{k: changes[k] for k in QUOTAS if k in changes})


BUILTIN = Limits(policies=1000, allocations=65536, segments=256)
"""Defaults until an admin sets others. Well above a Kubernetes namespace's NetworkPolicies
and the benchmarks (2 policies per tenant, a few thousand allocations), far below what loads
every agent (thousands of policies each). Allocations and segments are bounded by the address
plan as well: a tenant never gets more than its blocks hold, whatever its quota."""

Reader = Callable[[str], KeyValue | None]


def check_changes(changes: Mapping[str, object], *, nullable: bool) -> dict[str, int | None]:
    """``changes`` checked: only known quotas, each a non-negative integer (or None to drop an
    override, when ``nullable``). InvalidInput names every bad field at once."""
    issues = Issues("invalid quota")
    out: dict[str, int | None] = {}
    for name, value in changes.items():
        if name not in QUOTAS:
            issues.add(name, f"is not a quota; give {', '.join(QUOTAS)}")
        elif value is None and nullable:
            out[name] = None
        elif not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAXIMUM:
            issues.add(name, f"must be an integer from 0 to {MAXIMUM}")
        else:
            out[name] = value
    issues.raise_if_any()
    return out


class QuotaService:
    def __init__(self, store: Store) -> None:
        self._store = store
        # Parsed limits by (tenant, revisions of both records): every allocation asks.
        self._parsed: dict[tuple[str, int, int], Limits] = {}

    # -- limits ----------------------------------------------------------------------------

    def defaults(self, read: Reader | None = None) -> Limits:
        """The defaults in force: what an admin stored over :data:`BUILTIN`."""
        kv = (read or self._store.get)(keys.QUOTA_DEFAULTS)
        return BUILTIN.with_(txn.loads(kv)) if kv else BUILTIN

    def override(self, tenant: TenantName, read: Reader | None = None) -> dict[str, int]:
        """The quotas set for ``tenant`` alone (only those it overrides)."""
        kv = (read or self._store.get)(keys.quota(tenant))
        return dict(txn.loads(kv)) if kv else {}

    def limits(self, tenant: TenantName) -> Limits:
        """The limits in force for ``tenant``: its overrides, else the defaults."""
        return self.defaults().with_(self.override(tenant))

    def guarded_limits(self, w: txn.Writes, tenant: TenantName, read: Reader) -> Limits:
        """:meth:`limits` read through ``read`` (a cache, perhaps) with both keys guarded, so a
        transaction that trusted a stale cache does not commit."""
        defaults, override = read(keys.QUOTA_DEFAULTS), read(keys.quota(tenant))
        w.guard(keys.QUOTA_DEFAULTS, defaults)
        w.guard(keys.quota(tenant), override)
        memo = (
            tenant,
            defaults.mod_revision if defaults else 0,
            override.mod_revision if override else 0,
        )
        found = self._parsed.get(memo)
        if found is None:
            found = self.defaults(lambda _: defaults).with_(
                self.override(tenant, lambda _: override)
            )
            if len(self._parsed) > 4096:
                self._parsed.clear()
            self._parsed[memo] = found
        return found

    # -- admin writes ----------------------------------------------------------------------

    def set_defaults(self, changes: Mapping[str, object]) -> Limits:
        """Change some defaults (None in ``changes`` is refused: a default always exists)."""
        checked = check_changes(changes, nullable=False)

        def attempt(w: txn.Writes) -> Limits:
            kv = self._store.get(keys.QUOTA_DEFAULTS)
            stored = {**(txn.loads(kv) if kv else {}), **checked}
            w.guard(keys.QUOTA_DEFAULTS, kv)
            w.ops.append(Put(keys.QUOTA_DEFAULTS, txn.dumps(stored)))
            return BUILTIN.with_(stored)

        return txn.run(self._store, attempt, what="set quota defaults")

    def set_override(self, tenant: TenantName, changes: Mapping[str, object]) -> dict[str, Any]:
        """Override some quotas of ``tenant`` (None: back to the default); its quota report."""
        checked = check_changes(changes, nullable=True)

        def attempt(w: txn.Writes) -> None:
            tkv = self._store.get(keys.tenant(tenant))
            if tkv is None:
                raise NotFound(f"tenant {tenant!r} does not exist")
            kv = self._store.get(keys.quota(tenant))
            stored = {**(txn.loads(kv) if kv else {}), **checked}
            stored = {k: v for k, v in stored.items() if v is not None}
            w.guard(keys.tenant(tenant), tkv)
            w.guard(keys.quota(tenant), kv)
            w.ops.append(Put(keys.quota(tenant), txn.dumps(stored)))

        txn.run(self._store, attempt, what=f"set the quota of tenant {tenant!r}")
        return self.report(tenant)

    # -- usage -----------------------------------------------------------------------------

    def usage(self, tenant: TenantName) -> dict[str, int]:
        """What ``tenant`` holds now, per quota; NotFound for an unknown tenant."""
        tkv = self._store.get(keys.tenant(tenant))
        if tkv is None:
            raise NotFound(f"tenant {tenant!r} does not exist")
        counters = self._store.range(keys.allocation_counters(tenant)).items
        allocations = (
            sum(int(txn.loads(kv)) for kv in counters)
            if counters
            else self._count_allocations(tenant)[0]
        )
        return {
            # Policies a tenant owns are stored under its own prefix (romana.core.policy.ids).
            "policies": len(self._store.range(keys.tenant_policies(tenant)).items),
            "allocations": allocations,
            "segments": len(txn.loads(tkv).get("segments") or {}),
        }

    def report(self, tenant: TenantName) -> dict[str, Any]:
        """``{tenant, limits, override, usage}``: what ``GET /v1/tenants/{name}/quota`` shows."""
        used = self.usage(tenant)
        return {
            "tenant": tenant,
            "limits": self.limits(tenant).to_dict(),
            "override": self.override(tenant),
            "usage": used,
        }

    def take_allocation(
        self, w: txn.Writes, tenant: TenantName, key: AllocationKey, limit: int
    ) -> None:
        """Count allocation ``key`` of ``tenant`` in ``w``; QuotaExceeded past ``limit``."""
        prefix = keys.allocation_counters(tenant)
        found = self._store.range(prefix)
        if not found.items:
            held, revision = self._count_allocations(tenant)
            w.guard_range(keys.IPAM_KEYS, revision)
            w.guard_range(prefix, found.revision)
            refuse_over(tenant, "allocations", limit, held)
            w.ops.append(Put(counter(prefix, key), txn.dumps(held + 1)))
            return
        mine = counter(prefix, key)
        held, current = 0, None
        for kv in found.items:
            held += int(kv.value)  # JSON integers, parsed as int
            if kv.key == mine:
                current = kv
        refuse_over(tenant, "allocations", limit, held)
        if held + COUNTERS >= limit:
            w.guard_range(prefix, found.revision)
        else:
            w.guard(mine, current)
        count = int(current.value) if current else 0
        w.ops.append(Put(mine, str(count + 1).encode()))  # as JSON, cheaper

    def give_back_allocation(self, w: txn.Writes, tenant: TenantName, key: AllocationKey) -> None:
        """Count the release of allocation ``key`` of ``tenant`` in ``w``."""
        prefix = keys.allocation_counters(tenant)
        mine = counter(prefix, key)
        kv = self._store.get(mine)
        if kv is None:
            found = self._store.range(prefix)
            if not found.items:
                # Not counted yet: the first allocation counts what is left, unless it commits
                # first, which this guard makes the release notice.
                w.guard_range(prefix, found.revision)
                return
        w.guard(mine, kv)
        w.ops.append(Put(mine, str((int(kv.value) if kv else 0) - 1).encode()))

    def forget(self, tenant: TenantName) -> list[Delete]:
        """The deletes of every counter of ``tenant`` (with the tenant's own removal)."""
        found = self._store.range(keys.allocation_counters(tenant))
        return [Delete(kv.key) for kv in found.items]

    def _count_allocations(self, tenant: TenantName) -> tuple[int, int]:
        found = self._store.range(keys.IPAM_KEYS)
        count = sum(1 for raw in txn.loads_all(found.items) if raw.get("tenant") == tenant)
        return count, found.revision


def counter(prefix: str, key: AllocationKey) -> str:
    """The counter allocation ``key`` is counted in: the same for its allocation and release."""
    return f"{prefix}{zlib.crc32(key.encode()) % COUNTERS}"


def refuse_over(tenant: TenantName, quota: str, limit: int, usage: int, wanted: int = 1) -> None:
    """QuotaExceeded when ``usage + wanted`` is more than ``limit``."""
    if usage + wanted > limit:
        raise QuotaExceeded(tenant, quota, limit, usage, wanted=wanted)
