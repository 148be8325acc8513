"""A tenant's isolation in the store: explicit, changed only on purpose, and recorded for
tenants an earlier release stored without one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from romana.core import tenancy
from romana.core.errors import NotFound
from romana.core.identifiers import SegmentName, TenantName
from romana.core.kubernetes import translation
from romana.core.store import Put
from romana.services import keys, tenants
from romana.services.policy import PolicyService
from unit.services.conftest import Services

ISO = TenantName("iso")

# The marker policy releases before isolation modes stored for each Kubernetes namespace.
LEGACY_MARKER: dict[str, Any] = {
    "id": "kube.ns",
    "name": "kube.ns",
    "description": "Kubernetes namespace ns: pods no NetworkPolicy selects accept all",
    "action": "allow",
    "applied_to": [{"tenant": "ns"}],
    "ingress": [{"peers": [{"peer": "any"}], "rules": [{"protocol": "any"}]}],
}
# A Romana v2 policy whose id only looks like one a listener wrote.
USERS = {
    "id": "kube.plain",
    "direction": "ingress",
    "applied_to": [{"tenant_id": "plain"}],
    "ingress": [{"peers": [{"peer": "any"}], "rules": [{"protocol": "tcp", "ports": [80]}]}],
}


def as_earlier_release_stored_policy(svc: Services, document: dict[str, object]) -> None:
    """Under its bare name, as releases before namespaced ids stored every policy."""
    key = keys.policy(str(document["id"]))
    svc.store.txn([], [Put(key, json.dumps(document).encode())])


def as_earlier_release_stored(svc: Services, name: str) -> None:
    raw = svc.tenants.get(TenantName(name)).to_dict()
    del raw["isolation"]
    svc.store.txn([], [Put(keys.tenant(TenantName(name)), json.dumps(raw).encode())])


def test_isolation_is_stored_with_the_tenant_and_changed_only_by_set_isolation(
    svc: Services,
) -> None:
    made = svc.tenants.create(ISO, isolation=tenancy.KUBERNETES)
    assert svc.tenants.get(ISO).isolation == made.isolation == tenancy.KUBERNETES
    svc.tenants.add_segment(ISO, SegmentName("web"))
    assert svc.tenants.get(ISO).isolation == tenancy.KUBERNETES, "a segment change keeps it"
    opened = tenancy.Isolation(tenancy.Mode.ROMANA, tenancy.Segments.OPEN)
    assert svc.tenants.set_isolation(ISO, opened).isolation == opened
    assert svc.tenants.get(ISO).isolation == opened
    with pytest.raises(NotFound):
        svc.tenants.set_isolation(TenantName("nobody"), opened)


def test_tenants_of_an_earlier_release_keep_what_they_enforced(svc: Services) -> None:
    policies = PolicyService(svc.store)
    for name in ("plain", "ns", "new"):
        svc.tenants.create(TenantName(name))
    policies.add(USERS)
    as_earlier_release_stored_policy(svc, LEGACY_MARKER)
    as_earlier_release_stored(svc, "plain")
    as_earlier_release_stored(svc, "ns")

    changed = svc.tenants.record_isolation()

    assert {t.name: t.isolation for t in changed} == {
        "plain": tenants.UPGRADED,
        "ns": translation.ISOLATION,
    }
    assert svc.tenants.get(TenantName("plain")).isolation.segments is tenancy.Segments.OPEN
    assert svc.tenants.get(TenantName("new")).isolation == tenancy.ROMANA, (
        "a current record is untouched"
    )
    assert {p["id"] for p in policies.list_all()} == {"plain/kube.plain"}, "only the marker went"
    assert svc.tenants.record_isolation() == [], "idempotent"


def test_a_policy_named_like_a_marker_but_saying_more_makes_no_tenant_kubernetes(
    svc: Services,
) -> None:
    svc.tenants.create(TenantName("ns"))
    as_earlier_release_stored_policy(svc, {**LEGACY_MARKER, "description": "mine"})
    as_earlier_release_stored(svc, "ns")
    (changed,) = svc.tenants.record_isolation()
    assert changed.isolation == tenants.UPGRADED
    assert [p["id"] for p in PolicyService(svc.store).list_all()] == ["kube.ns"]
