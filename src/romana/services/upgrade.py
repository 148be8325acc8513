"""What romanad does at start so that data an earlier release stored means what it meant.

Each step is idempotent and changes only records written by an earlier release; a current
store is left exactly as it is. Steps, in order:

1. Tenants stored before tenants carried an isolation mode get the one that keeps what they
   enforced (:meth:`romana.services.tenants.TenantService.record_isolation`): ``kubernetes``
   for a namespace's tenant (recognised by the whole document of the marker policy that
   release stored for it, which is removed), else ``romana`` with segments ``open``.
2. Policies a Kubernetes sync derived — those the stored Kubernetes objects translate to,
   never a policy picked by its name — are rewritten as the current translation states them
   (their pod targets narrowed to their namespace's tenant), so agents enforce NetworkPolicy
   semantics at once instead of after the listener's next sync.
"""

from __future__ import annotations

from romana.core.policy import kubernetes
from romana.core.store import Store
from romana.services import kubestore, kubesync
from romana.services.tenants import TenantService
from romana.services.topology import TopologyService


def run(store: Store) -> list[str]:
    """Bring what an earlier release stored up to date; one line per change made."""
    notes = [
        f"tenant {t.name} had no isolation mode (stored by an earlier release): recorded as "
        f"{t.isolation}, which is what it enforced; an admin may change it "
        "(romana tenant isolation)"
        for t in TenantService(store, TopologyService(store)).record_isolation()
    ]
    notes += [
        f"policy {pid}: rewritten as the current translation of its NetworkPolicy"
        for pid in _retranslate(kubesync.ServicesRomanad(store))
    ]
    return notes


def _retranslate(port: kubesync.ServicesRomanad) -> list[str]:
    stored = port.kube_objects()
    if not any(stored.values()):
        return []
    namespaces, pods, policies = kubestore.parse(stored)
    translation = kubernetes.translate(policies, namespaces, pods, kubernetes.Settings())
    current = port.policies()
    changed = []
    for policy in translation.policies:
        document = policy.to_dict()
        old = current.get(policy.name)
        if old is not None and {k: v for k, v in old.items() if k != "id"} != document:
            port.put_policy(document)
            changed.append(policy.name)
    return changed
