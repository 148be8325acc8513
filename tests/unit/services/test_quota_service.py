"""Per-tenant quotas: defaults and overrides, and what each refusal leaves unchanged."""

from __future__ import annotations

import threading

import pytest

from romana.core.errors import InvalidInput, NotFound, QuotaExceeded
from romana.core.identifiers import AllocationKey, HostName, SegmentName, TenantName
from romana.core.store import Delete
from romana.services import keys, quotas
from romana.services.quotas import QuotaService
from unit.services.conftest import Services

ACME = TenantName("acme")
GONE = TenantName("gone")
H1 = HostName("h1")
MANY = TenantName("many")
OLD = TenantName("old")


def test_defaults_and_overrides_make_the_limits(svc: Services) -> None:
    q = QuotaService(svc.store)
    svc.tenants.create(ACME)
    assert q.limits(ACME) == quotas.BUILTIN
    q.set_defaults({"policies": 50})
    q.set_override(ACME, {"segments": 3})
    assert q.limits(ACME) == quotas.Limits(policies=50, allocations=65536, segments=3)
    report = q.set_override(ACME, {"segments": None, "allocations": 7})
    assert report["override"] == {"allocations": 7}
    assert report["limits"] == {"policies": 50, "allocations": 7, "segments": 256}
    assert report["usage"] == {"policies": 0, "allocations": 0, "segments": 1}


def test_bad_quotas_are_refused_naming_each(svc: Services) -> None:
    q = QuotaService(svc.store)
    with pytest.raises(InvalidInput) as caught:
        q.set_defaults({"policies": -1, "addresses": 3, "segments": None})
    assert {i.field for i in caught.value.issues} == {"policies", "addresses", "segments"}
    with pytest.raises(NotFound):
        q.set_override(TenantName("nobody"), {"policies": 1})


def test_allocations_past_the_quota_are_refused_and_change_nothing(svc: Services) -> None:
    q = QuotaService(svc.store)
    svc.tenants.create(ACME)
    q.set_override(ACME, {"allocations": 2})
    svc.ipam.allocate(AllocationKey("a"), H1, ACME)
    svc.ipam.allocate(AllocationKey("b"), HostName("h2"), ACME)
    svc.ipam.allocate(AllocationKey("a"), H1, ACME)  # the same key again is no new allocation
    before = svc.store.revision()
    with pytest.raises(QuotaExceeded) as caught:
        svc.ipam.allocate(AllocationKey("c"), H1, ACME)
    err = caught.value
    assert (err.tenant, err.quota, err.limit, err.usage) == ("acme", "allocations", 2, 2)
    assert "romana quota set --tenant acme --allocations" in str(err)
    assert svc.store.revision() == before
    svc.ipam.release(AllocationKey("a"))
    assert q.usage(ACME)["allocations"] == 1
    svc.ipam.allocate(AllocationKey("c"), H1, ACME)
    q.set_override(ACME, {"allocations": 3})
    svc.ipam.allocate(AllocationKey("d"), HostName("h3"), ACME)
    assert q.usage(ACME)["allocations"] == 3


def test_concurrent_allocations_cannot_overshoot(svc: Services) -> None:
    q = QuotaService(svc.store)
    svc.tenants.create(ACME)
    q.set_override(ACME, {"allocations": 10})
    refused: list[QuotaExceeded] = []

    def work(n: int) -> None:
        for i in range(6):
            try:
                svc.ipam.allocate(AllocationKey(f"k{n}-{i}"), HostName(f"h{n % 3 + 1}"), ACME)
            except QuotaExceeded as exc:
                refused.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(svc.ipam.list_all(tenant=ACME)) == 10
    assert len(refused) == 14
    assert q.usage(ACME)["allocations"] == 10


def test_a_tenant_without_a_counter_is_counted_at_its_next_allocation(svc: Services) -> None:
    """Data an earlier release stored has allocations but no counter."""
    q = QuotaService(svc.store)
    svc.tenants.create(OLD)
    svc.ipam.allocate(AllocationKey("x"), H1, OLD)
    svc.ipam.allocate(AllocationKey("y"), HostName("h2"), OLD)
    counters = svc.store.range(keys.allocation_counters(OLD)).items
    svc.store.txn((), tuple(Delete(kv.key) for kv in counters))
    q.set_override(OLD, {"allocations": 2})
    assert q.usage(OLD)["allocations"] == 2
    with pytest.raises(QuotaExceeded):
        svc.ipam.allocate(AllocationKey("z"), H1, OLD)
    q.set_override(OLD, {"allocations": 3})
    svc.ipam.allocate(AllocationKey("z"), H1, OLD)
    assert svc.store.range(keys.allocation_counters(OLD)).items
    assert q.usage(OLD)["allocations"] == 3


def test_segments_past_the_quota_are_refused(svc: Services) -> None:
    q = QuotaService(svc.store)
    svc.tenants.create(ACME)
    q.set_override(ACME, {"segments": 2})  # default included
    svc.tenants.add_segment(ACME, SegmentName("web"))
    with pytest.raises(QuotaExceeded) as caught:
        svc.tenants.add_segment(ACME, SegmentName("db"))
    assert (caught.value.quota, caught.value.limit, caught.value.usage) == ("segments", 2, 2)
    assert set(svc.tenants.get(ACME).segments) == {"default", "web"}


def test_deleting_a_tenant_drops_its_quota_and_counter(svc: Services) -> None:
    q = QuotaService(svc.store)
    svc.tenants.create(GONE)
    q.set_override(GONE, {"policies": 1})
    svc.tenants.delete(GONE)
    assert svc.store.get(keys.quota(GONE)) is None
    assert not svc.store.range(keys.allocation_counters(GONE)).items
    svc.tenants.create(GONE)
    assert q.limits(GONE) == quotas.BUILTIN


def test_releases_and_allocations_keep_the_count_across_counters(svc: Services) -> None:
    """Keys hash to different counters; the sum is what the tenant holds, near the limit and
    far from it."""
    q = QuotaService(svc.store)
    svc.tenants.create(MANY)
    q.set_override(MANY, {"allocations": quotas.COUNTERS + 4})
    for i in range(quotas.COUNTERS + 4):
        svc.ipam.allocate(AllocationKey(f"k{i}"), H1, MANY)
    with pytest.raises(QuotaExceeded):
        svc.ipam.allocate(AllocationKey("one-more"), H1, MANY)
    for i in range(0, quotas.COUNTERS + 4, 2):
        svc.ipam.release(AllocationKey(f"k{i}"))
    assert q.usage(MANY)["allocations"] == quotas.COUNTERS // 2 + 2
    assert len(svc.store.range(keys.allocation_counters(MANY)).items) > 1
