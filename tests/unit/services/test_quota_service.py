"""Per-tenant quotas: defaults and overrides, and what each refusal leaves unchanged."""

from __future__ import annotations

import threading

import pytest

from romana.core.errors import InvalidInput, NotFound, QuotaExceeded
from romana.core.store import Delete
from romana.services import keys, quotas
from romana.services.quotas import QuotaService
from unit.services.conftest import Services


def test_defaults_and_overrides_make_the_limits(svc: Services) -> None:
    q = QuotaService(svc.store)
    svc.tenants.create("acme")
    assert q.limits("acme") == quotas.BUILTIN
    q.set_defaults({"policies": 50})
    q.set_override("acme", {"segments": 3})
    assert q.limits("acme") == quotas.Limits(policies=50, allocations=65536, segments=3)
    report = q.set_override("acme", {"segments": None, "allocations": 7})
    assert report["override"] == {"allocations": 7}
    assert report["limits"] == {"policies": 50, "allocations": 7, "segments": 256}
    assert report["usage"] == {"policies": 0, "allocations": 0, "segments": 1}


def test_bad_quotas_are_refused_naming_each(svc: Services) -> None:
    q = QuotaService(svc.store)
    with pytest.raises(InvalidInput) as caught:
        q.set_defaults({"policies": -1, "addresses": 3, "segments": None})
    assert {i.field for i in caught.value.issues} == {"policies", "addresses", "segments"}
    with pytest.raises(NotFound):
        q.set_override("nobody", {"policies": 1})


def test_allocations_past_the_quota_are_refused_and_change_nothing(svc: Services) -> None:
    q = QuotaService(svc.store)
    svc.tenants.create("acme")
    q.set_override("acme", {"allocations": 2})
    svc.ipam.allocate("a", "h1", "acme")
    svc.ipam.allocate("b", "h2", "acme")
    svc.ipam.allocate("a", "h1", "acme")  # the same key again is no new allocation
    before = svc.store.revision()
    with pytest.raises(QuotaExceeded) as caught:
        svc.ipam.allocate("c", "h1", "acme")
    err = caught.value
    assert (err.tenant, err.quota, err.limit, err.usage) == ("acme", "allocations", 2, 2)
    assert "romana quota set --tenant acme --allocations" in str(err)
    assert svc.store.revision() == before
    svc.ipam.release("a")
    assert q.usage("acme")["allocations"] == 1
    svc.ipam.allocate("c", "h1", "acme")
    q.set_override("acme", {"allocations": 3})
    svc.ipam.allocate("d", "h3", "acme")
    assert q.usage("acme")["allocations"] == 3


def test_concurrent_allocations_cannot_overshoot(svc: Services) -> None:
    q = QuotaService(svc.store)
    svc.tenants.create("acme")
    q.set_override("acme", {"allocations": 10})
    refused: list[QuotaExceeded] = []

    def work(n: int) -> None:
        for i in range(6):
            try:
                svc.ipam.allocate(f"k{n}-{i}", f"h{n % 3 + 1}", "acme")
            except QuotaExceeded as exc:
                refused.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(svc.ipam.list_all(tenant="acme")) == 10
    assert len(refused) == 14
    assert q.usage("acme")["allocations"] == 10


def test_a_tenant_without_a_counter_is_counted_at_its_next_allocation(svc: Services) -> None:
    """Data an earlier release stored has allocations but no counter."""
    q = QuotaService(svc.store)
    svc.tenants.create("old")
    svc.ipam.allocate("x", "h1", "old")
    svc.ipam.allocate("y", "h2", "old")
    counters = svc.store.range(keys.allocation_counters("old")).items
    svc.store.txn((), tuple(Delete(kv.key) for kv in counters))
    q.set_override("old", {"allocations": 2})
    assert q.usage("old")["allocations"] == 2
    with pytest.raises(QuotaExceeded):
        svc.ipam.allocate("z", "h1", "old")
    q.set_override("old", {"allocations": 3})
    svc.ipam.allocate("z", "h1", "old")
    assert svc.store.range(keys.allocation_counters("old")).items
    assert q.usage("old")["allocations"] == 3


def test_segments_past_the_quota_are_refused(svc: Services) -> None:
    q = QuotaService(svc.store)
    svc.tenants.create("acme")
    q.set_override("acme", {"segments": 2})  # default included
    svc.tenants.add_segment("acme", "web")
    with pytest.raises(QuotaExceeded) as caught:
        svc.tenants.add_segment("acme", "db")
    assert (caught.value.quota, caught.value.limit, caught.value.usage) == ("segments", 2, 2)
    assert set(svc.tenants.get("acme").segments) == {"default", "web"}


def test_deleting_a_tenant_drops_its_quota_and_counter(svc: Services) -> None:
    q = QuotaService(svc.store)
    svc.tenants.create("gone")
    q.set_override("gone", {"policies": 1})
    svc.tenants.delete("gone")
    assert svc.store.get(keys.quota("gone")) is None
    assert not svc.store.range(keys.allocation_counters("gone")).items
    svc.tenants.create("gone")
    assert q.limits("gone") == quotas.BUILTIN


def test_releases_and_allocations_keep_the_count_across_counters(svc: Services) -> None:
    """Keys hash to different counters; the sum is what the tenant holds, near the limit and
    far from it."""
    q = QuotaService(svc.store)
    svc.tenants.create("many")
    q.set_override("many", {"allocations": quotas.COUNTERS + 4})
    for i in range(quotas.COUNTERS + 4):
        svc.ipam.allocate(f"k{i}", "h1", "many")
    with pytest.raises(QuotaExceeded):
        svc.ipam.allocate("one-more", "h1", "many")
    for i in range(0, quotas.COUNTERS + 4, 2):
        svc.ipam.release(f"k{i}")
    assert q.usage("many")["allocations"] == quotas.COUNTERS // 2 + 2
    assert len(svc.store.range(keys.allocation_counters("many")).items) > 1
