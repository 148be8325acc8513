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
3. Policies a Kubernetes sync derived — those the stored record lists, or for a record an
   earlier release stored, those its objects translate to; never a policy picked by its
   name — are rewritten, each in one transaction, as the current translation states them
   with the segment label the sync used (their pod targets narrowed to their namespace's
   tenant), so agents enforce NetworkPolicy semantics at once instead of after the
   listener's next sync. A record that cannot be read is left alone, with a warning.

The listener runs these steps too when it starts: it writes to the store directly and may
start before romanad does.
"""

from __future__ import annotations

import logging

from romana.core.errors import RomanaError
from romana.core.policy import kubernetes
from romana.core.store import Store
from romana.services import kubestore, kubesync
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
        f"policy {pid}: rewritten as the current translation of its NetworkPolicy"
        for pid in _retranslate(kubesync.ServicesRomanad(store))
    ]
    return notes


def _retranslate(port: kubesync.ServicesRomanad) -> list[str]:
    stored = port.kube_objects()
    if not any(stored.get(field) for field in kubestore.KINDS):
        return []
    try:
        derived = kubestore.Derived.of(stored)
        namespaces, pods, policies = kubestore.parse(stored)
    except RomanaError as exc:
        log.warning("the stored Kubernetes objects cannot be read (%s): not rewritten", exc)
        return []
    label = derived.segment_label if derived is not None else ""
    settings = kubernetes.Settings(segment_label=label or kubernetes.SEGMENT_LABEL)
    translation = kubernetes.translate(policies, namespaces, pods, settings)
    current = port.policies()
    changed = []
    for policy in translation.policies:
        if derived is not None and policy.name not in derived.policies:
            continue
        document = policy.to_dict()
        old = current.get(policy.name)
        if old is not None and {k: v for k, v in old.items() if k != "id"} != document:
            port.put_policy(document)
            changed.append(policy.name)
    return changed
