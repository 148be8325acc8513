"""What romanad does at start so that data an earlier release stored means what it meant.

Each step is idempotent and changes only records written by an earlier release; a current
store is left exactly as it is. Steps, in order:

1. Tenants stored before tenants carried an isolation mode get the one that keeps what they
   enforced (:meth:`romana.services.tenants.TenantService.record_isolation`): ``kubernetes``
   for a namespace's tenant (recognised by the whole document of the marker policy that
   release stored for it, which is removed), else ``romana`` with segments ``open``.
2. Tenants stored before tenants carried a ``uid`` get a random one, and that release's
   tenant users of each are bound to it
   (:meth:`romana.services.tenants.TenantService.record_uids`); a tenant user whose tenant
   is gone stays unbound, and its tokens are refused.
3. Policies an earlier release stored under their bare name (``policies/<name>``) that one
   tenant owns move to their id's key (``policies/<tenant>/<name>``,
   :mod:`romana.core.policy.ids`), each in one transaction that writes the new key, deletes
   the old one and renames the policy in the Kubernetes sync's ``derived`` record: a crash
   leaves each policy at one key or the other, never at none. When both keys hold the
   policy (an earlier release's romanad or listener wrote the old key after a move), the
   later write wins. The markers of step 1 are looked for before this step moves them.
4. Policies a Kubernetes sync derived — those the stored record lists, or for a record an
   earlier release stored, those its objects translate to; never a policy picked by its
   name — are rewritten, each in one transaction, as the current translation states them
   with the segment label the sync used (their pod targets narrowed to their namespace's
   tenant), so agents enforce NetworkPolicy semantics at once instead of after the
   listener's next sync. Narrowed to a tenant, such a policy is that tenant's: it moves from
   its bare name to its id as in step 3, and the record is read by either. A record that
   cannot be read is left alone, with a warning.

The listener runs these steps too when it starts: it writes to the store directly and may
start before romanad does.
"""

from __future__ import annotations

import logging
from typing import Any

from romana.core.errors import InvalidInput, RomanaError
from romana.core.kubernetes import record as kube_record
from romana.core.kubernetes import translation
from romana.core.policy import ids, parse
from romana.core.store import Delete, Put, Store
from romana.services import keys, kubesync, txn
from romana.services import policy as policy_service
from romana.services.tenants import TenantService
from romana.services.topology import TopologyService

log = logging.getLogger(__name__)


def run(store: Store) -> list[str]:
    """Bring what an earlier release stored up to date; one line per change made."""
    tenants = TenantService(store, TopologyService(store))
    notes = [
        f"tenant {t.name} had no isolation mode (stored by an earlier release): recorded as "
        f"{t.isolation}, which is what it enforced; an admin may change it "
        "(romana tenant isolation)"
        for t in tenants.record_isolation()
    ]
    notes += [
        f"tenant {t.name} had no uid (stored by an earlier release): given one, and its "
        "tenant users bound to it"
        for t in tenants.record_uids()
    ]
    notes += [
        f"policy {old}: moved to its tenant's id {new} (ids are namespaced per tenant)"
        for old, new in _namespace_ids(store)
    ]
    notes += [
        f"policy {pid}: rewritten as the current translation of its NetworkPolicy"
        for pid in _retranslate(kubesync.ServicesRomanad(store))
    ]
    return notes


def _retranslate(port: kubesync.ServicesRomanad) -> list[str]:
    stored = port.kube_objects()
    if not any(stored.get(field) for field in kube_record.KINDS):
        return []
    try:
        derived = kube_record.Derived.of(stored)
        namespaces, pods, policies = kube_record.parse(stored)
    except RomanaError as exc:
        log.warning("the stored Kubernetes objects cannot be read (%s): not rewritten", exc)
        return []
    label = derived.segment_label if derived is not None else ""
    settings = translation.Settings(segment_label=label or translation.SEGMENT_LABEL)
    translated = translation.translate(policies, namespaces, pods, settings)
    current = port.policies()
    changed = []
    for policy in translated.policies:
        pid = ids.policy_id(policy)
        # An earlier release named its policies by their bare names, and their targets
        # named no tenant, so such a policy is global there and its tenant's here.
        listed = {pid, policy.name} & (derived.policies if derived else {pid, policy.name})
        document = policy.to_dict()
        if policy.name != pid and policy.name in listed and policy.name in current:
            _move(port.store, policy.name, {"id": pid, **document})
            changed.append(pid)
            continue
        old = current.get(pid) if pid in listed else None
        if old is not None and {k: v for k, v in old.items() if k != "id"} != document:
            port.put_policy(pid, document)
            changed.append(pid)
    return changed


def _namespace_ids(store: Store) -> list[tuple[str, str]]:
    """Move every tenant-owned policy stored under its bare name to its id; (old, new) ids."""
    moved = []
    for kv in store.range(keys.POLICIES).items:
        old = kv.key[len(keys.POLICIES) :]
        if ids.SEPARATOR in old:
            continue
        try:
            policy = parse.policy(txn.loads(kv))
        except (InvalidInput, ValueError) as exc:
            log.warning("policy %s cannot be read (%s): left where it is", old, exc)
            continue
        new = ids.policy_id(policy)
        if new != old and _move(store, old, {"id": new, **policy.to_dict()}):
            moved.append((old, new))
    return moved


def _move(store: Store, old: str, document: dict[str, Any]) -> bool:
    """Write ``document`` at its id's key and delete the key of ``old``, in one transaction;
    False when another process moved it first."""
    new = str(document["id"])

    def attempt(w: txn.Writes) -> bool:
        was, there = store.get(keys.policy(old)), store.get(keys.policy(new))
        if was is None:
            return False
        w.guard(was.key, was)
        w.guard(keys.policy(new), there)
        if there is None or there.mod_revision < was.mod_revision:
            w.ops.append(Put(keys.policy(new), txn.dumps(document)))
        w.ops += [Delete(was.key), Put(policy_service.GENERATION, b"{}")]
        record = store.get(keys.KUBE_DERIVED)
        listed = txn.loads(record) if record is not None else None
        if isinstance(listed, dict) and old in (listed.get("policies") or []):
            names = sorted({new, *(p for p in listed["policies"] if p != old)})
            w.guard(keys.KUBE_DERIVED, record)
            w.ops.append(Put(keys.KUBE_DERIVED, txn.dumps({**listed, "policies": names})))
        return True

    return txn.run(store, attempt, what=f"move policy {old!r} to {new!r}")
