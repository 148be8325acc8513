"""Tenant and segment use cases over the store.

Each mutation is one store transaction guarded by what it read (see ``services.txn``).
A tenant's id in a network is held by a ``tenant-ids`` key so two tenants can never get the
same id, even when created concurrently on different replicas.

Invariants:

* Every tenant created here has a random ``uid``, never changed; tenant users store it
  (:mod:`romana.services.auth`) and their tokens work only while the tenant with that uid
  exists. :meth:`TenantService.record_uids` gives one to a tenant an earlier release stored.
* Tenant names are unique ignoring case, checked in the transaction that creates the tenant
  (guarded by the whole tenant range); lookups are exact.
* Deleting a tenant deletes its tenant users in the same transaction, so their tokens stop
  working at once and a later tenant of the same name starts with no users; its quota
  overrides and allocation counter go with it.
* A tenant's ``owner`` (the ``openstack`` user acting in it, :mod:`romana.services.authz`)
  is recorded when it is created and changed only by :meth:`TenantService.set_owner`; it is
  a user name, checked for its syntax only (the user may be created later).
* A segment beyond the tenant's segment quota is refused (:mod:`romana.services.quotas`);
  the count is the tenant record's own, which every segment change guards.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import replace

from romana.core import names, tenancy
from romana.core.errors import AlreadyExists, Conflict, Issues, NotFound
from romana.core.identifiers import NetworkName, SegmentName, TenantName
from romana.core.kubernetes import translation
from romana.core.store import Delete, KeyValue, Put, Store
from romana.services import keys, policy, quotas, txn
from romana.services.topology import TopologyService

_OWNER_RE = re.compile(names.USERNAME_PATTERN)
UPGRADED = tenancy.Isolation(tenancy.Mode.ROMANA, tenancy.Segments.OPEN)
"""What a tenant stored before isolation modes existed enforced, unless it was a namespace's."""


class TenantService:
    def __init__(self, store: Store, topology: TopologyService) -> None:
        self._store = store
        self._topology = topology
        self._quotas = quotas.QuotaService(store)

    def get(self, name: TenantName) -> tenancy.Tenant:
        return self.stored(name)[1]

    def stored(self, name: TenantName) -> tuple[KeyValue, tenancy.Tenant]:
        """The tenant's key (for a guard) and the tenant; NotFound when there is none."""
        kv = self._store.get(keys.tenant(name))
        if kv is None:
            raise NotFound(f"tenant {name!r} does not exist")
        return kv, tenancy.Tenant.from_dict(txn.loads(kv))

    def list_all(self) -> list[tenancy.Tenant]:
        return [
            tenancy.Tenant.from_dict(raw)
            for raw in txn.loads_all(self._store.range(keys.TENANTS).items)
        ]

    def create(
        self,
        name: TenantName,
        external_id: str = "",
        networks: Sequence[NetworkName] = (),
        isolation: tenancy.Isolation = tenancy.ROMANA,
        owner: str = "",
    ) -> tenancy.Tenant:
        """A new tenant; ``owner`` is recorded as the user that acts in it (docs/security.md,
        Owned tenants)."""
        issues = Issues()
        tenancy.check_name(name, "name", issues)
        if not isinstance(external_id, str) or len(external_id) > 253:
            issues.add("external_id", "must be a string of at most 253 characters")
        if owner and not names.matches(_OWNER_RE, owner):
            issues.add("owner", names.USERNAME_RULE)
        issues.raise_if_any()

        def attempt(w: txn.Writes) -> tenancy.Tenant:
            stored = self._store.range(keys.TENANTS)
            others = [tenancy.Tenant.from_dict(raw) for raw in txn.loads_all(stored.items)]
            same = names.clash(name, (t.name for t in others))
            if same is not None:
                raise AlreadyExists(f"tenant {same!r} already exists")
            if external_id:
                for other in others:
                    if other.external_id == external_id:
                        raise AlreadyExists(
                            f"external_id {external_id!r} is already used by tenant {other.name!r}"
                        )
            view = self._topology.view()
            used: dict[str, list[int]] = {}
            for adm in view.admissions:
                items = self._store.range(keys.tenant_ids(adm.layout.name)).items
                used[adm.layout.name] = [int(kv.key.rsplit("/", 1)[1]) for kv in items]
            ids = tenancy.pin_networks(name, networks, view.admissions, used)
            tenant = tenancy.Tenant(
                name,
                external_id,
                ids,
                requested_networks=tuple(networks),
                isolation=isolation,
                uid=secrets.token_hex(8),
                owner=owner,
            )
            w.guard(keys.tenant(name), None)
            # No tenant created meanwhile, so none of another spelling either.
            w.guard_range(keys.TENANTS, stored.revision)
            w.guard(keys.TOPOLOGY, view.kv)
            for net, tid in ids.items():
                w.guard(keys.tenant_id(NetworkName(net), tid), None)
                w.ops.append(Put(keys.tenant_id(NetworkName(net), tid), name.encode()))
            w.ops.append(Put(keys.tenant(name), txn.dumps(tenant.to_dict())))
            # Counted from here on; a counter a deleted namesake left must not carry over.
            counters = keys.allocation_counters(name)
            first = counters + "0"
            stale = self._store.range(counters).items
            w.ops += [Delete(kv.key) for kv in stale if kv.key != first]
            w.ops.append(Put(first, txn.dumps(0)))
            return tenant

        return txn.run(self._store, attempt, what=f"create tenant {name!r}")

    def ensure(self, name: TenantName) -> tenancy.Tenant:
        """The tenant, created with automatic networks when it does not exist yet."""
        try:
            return self.get(name)
        except NotFound:
            try:
                return self.create(name)
            except AlreadyExists as exists:
                # Created concurrently: that tenant. Another spelling of it stays refused.
                try:
                    return self.get(name)
                except NotFound:
                    raise exists from None

    def delete(self, name: TenantName) -> tenancy.Tenant:
        """Delete a tenant holding no addresses, and its tenant users with it."""

        def attempt(w: txn.Writes) -> tenancy.Tenant:
            kv, tenant = self.stored(name)
            held = self._count_addresses(tenant, None)
            if held:
                raise Conflict(f"tenant {name!r} still holds {held} addresses; release them first")
            w.guard(keys.tenant(name), kv)
            w.ops.append(Delete(keys.tenant(name)))
            w.ops.append(Delete(keys.quota(name)))
            w.ops += [
                Delete(kv.key) for kv in self._store.range(keys.allocation_counters(name)).items
            ]
            for net, tid in tenant.ids.items():
                w.ops.append(Delete(keys.tenant_id(NetworkName(net), tid)))
            for user in self._store.range(keys.USERS).items:
                record = txn.loads(user)
                if record.get("role") == "tenant" and record.get("tenant") == name:
                    w.guard(user.key, user)
                    w.ops.append(Delete(user.key))
            return tenant

        return txn.run(self._store, attempt, what=f"delete tenant {name!r}")

    def set_isolation(self, name: TenantName, isolation: tenancy.Isolation) -> tenancy.Tenant:
        """Change the tenant's isolation; callers check that an admin asked."""
        return self._change(name, lambda t: replace(t, isolation=isolation), what="set isolation")

    def set_owner(self, name: TenantName, owner: str) -> tenancy.Tenant:
        """Record ``owner`` (empty: none) as the user that acts in the tenant; callers check
        that an admin asked."""
        issues = Issues()
        if owner and not names.matches(_OWNER_RE, owner):
            issues.add("owner", names.USERNAME_RULE)
        issues.raise_if_any()
        return self._change(name, lambda t: replace(t, owner=owner), what="set the owner")

    def _change(
        self,
        name: TenantName,
        change: Callable[[tenancy.Tenant], tenancy.Tenant],
        *,
        what: str,
    ) -> tenancy.Tenant:
        """Store ``change`` of the tenant ``name``, writing nothing when it changes nothing
        (so a repeated call neither conflicts nor bumps the revision)."""

        def attempt(w: txn.Writes) -> tenancy.Tenant:
            kv, tenant = self.stored(name)
            updated = change(tenant)
            if updated == tenant:
                return tenant
            w.guard(keys.tenant(name), kv)
            w.ops.append(Put(keys.tenant(name), txn.dumps(updated.to_dict())))
            return updated

        return txn.run(self._store, attempt, what=f"{what} of tenant {name!r}")

    def record_isolation(self) -> list[tenancy.Tenant]:
        """Give every tenant stored before tenants carried an isolation mode an explicit one
        that keeps what it enforced: ``kubernetes`` where an earlier release's ``kube.<name>``
        marker policy made it isolate per pod (the marker is removed in the same
        transaction), else ``romana`` with segments ``open`` (segments did not isolate
        then). Idempotent; returns the tenants it changed."""
        return self._each_without("isolation", self._record_isolation)

    def _each_without(
        self, field: str, fix: Callable[[TenantName], tenancy.Tenant | None]
    ) -> list[tenancy.Tenant]:
        """``fix`` (by name) for every tenant whose stored record lacks ``field``: records an
        earlier release wrote. The tenants it changed."""
        changed = []
        for kv in self._store.range(keys.TENANTS).items:
            raw = txn.loads(kv)
            if not raw.get(field):
                found = fix(TenantName(str(raw["name"])))
                if found is not None:
                    changed.append(found)
        return changed

    def _record_isolation(self, name: TenantName) -> tenancy.Tenant | None:
        marker_key = keys.policy(translation.PREFIX + name)

        def attempt(w: txn.Writes) -> tenancy.Tenant | None:
            kv = self._store.get(keys.tenant(name))
            if kv is None or "isolation" in txn.loads(kv):
                return None
            marker = self._store.get(marker_key)
            w.guard(kv.key, kv)
            w.guard(marker_key, marker)
            isolation = UPGRADED
            if marker is not None and translation.legacy_marker(txn.loads(marker)) == name:
                isolation = translation.ISOLATION
                # Agents notice policy changes by the policy generation key.
                w.ops += [Delete(marker_key), Put(policy.GENERATION, b"{}")]
            updated = replace(tenancy.Tenant.from_dict(txn.loads(kv)), isolation=isolation)
            w.ops.append(Put(kv.key, txn.dumps(updated.to_dict())))
            return updated

        return txn.run(self._store, attempt, what=f"record the isolation of tenant {name!r}")

    def record_uids(self) -> list[tenancy.Tenant]:
        """Give every tenant an earlier release stored (without a ``uid``) a random one, and
        bind that release's users of the tenant to it. Idempotent; returns the tenants it
        changed."""
        return self._each_without("uid", self._record_uid)

    def _record_uid(self, name: TenantName) -> tenancy.Tenant | None:
        def attempt(w: txn.Writes) -> tenancy.Tenant | None:
            kv = self._store.get(keys.tenant(name))
            if kv is None or txn.loads(kv).get("uid"):
                return None
            updated = replace(tenancy.Tenant.from_dict(txn.loads(kv)), uid=secrets.token_hex(8))
            w.guard(kv.key, kv)
            w.ops.append(Put(kv.key, txn.dumps(updated.to_dict())))
            for user in self._store.range(keys.USERS).items:
                record = txn.loads(user)
                if record.get("role") == "tenant" and record.get("tenant") == name:
                    w.guard(user.key, user)
                    w.ops.append(Put(user.key, txn.dumps(record | {"tenant_uid": updated.uid})))
            return updated

        return txn.run(self._store, attempt, what=f"record the uid of tenant {name!r}")

    def add_segment(self, tenant_name: TenantName, segment: SegmentName) -> tenancy.Tenant:
        def attempt(w: txn.Writes) -> tenancy.Tenant:
            kv, tenant = self.stored(tenant_name)
            view = self._topology.view()
            updated = tenancy.add_segment(tenant, segment, view.layouts)
            limit = self._quotas.guarded_limits(w, tenant_name, self._store.get).segments
            quotas.refuse_over(tenant_name, "segments", limit, len(tenant.segments))
            w.guard(keys.tenant(tenant_name), kv)
            # The segment id must fit the widths it was chosen under.
            w.guard(keys.TOPOLOGY, view.kv)
            w.ops.append(Put(keys.tenant(tenant_name), txn.dumps(updated.to_dict())))
            return updated

        return txn.run(self._store, attempt, what=f"add segment {segment!r}")

    def ensure_segment(self, tenant_name: TenantName, segment: SegmentName) -> tenancy.Tenant:
        tenant = self.get(tenant_name)
        if segment in tenant.segments:
            return tenant
        try:
            return self.add_segment(tenant_name, segment)
        except AlreadyExists:
            # Added concurrently: that segment; another spelling of it stays refused.
            tenant = self.get(tenant_name)
            if segment in tenant.segments:
                return tenant
            raise

    def remove_segment(self, tenant_name: TenantName, segment: SegmentName) -> tenancy.Tenant:
        def attempt(w: txn.Writes) -> tenancy.Tenant:
            kv, tenant = self.stored(tenant_name)
            updated = tenancy.remove_segment(tenant, segment)
            held = self._count_addresses(tenant, tenant.segments[segment])
            if held:
                raise Conflict(
                    f"segment {segment!r} of tenant {tenant_name!r} still holds {held} "
                    "addresses; release them first"
                )
            w.guard(keys.tenant(tenant_name), kv)
            w.ops.append(Put(keys.tenant(tenant_name), txn.dumps(updated.to_dict())))
            return updated

        return txn.run(self._store, attempt, what=f"remove segment {segment!r}")

    def _count_addresses(self, tenant: tenancy.Tenant, segment_id: int | None) -> int:
        count = 0
        for net, tid in tenant.ids.items():
            for kv in self._store.range(keys.addr_network(NetworkName(net))).items:
                _, _, t, s, _ = keys.parse_addr(kv.key)
                if t == tid and (segment_id is None or s == segment_id):
                    count += 1
        return count
