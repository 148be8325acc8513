"""IPAM over a real store: idempotent keys, lowest-free reuse, blackouts, exhaustion, hosts."""

from __future__ import annotations

import pytest

from romana.core.errors import AlreadyExists, Conflict, Exhausted, InvalidInput, NotFound
from romana.core.identifiers import AllocationKey, HostName, NetworkName, SegmentName, TenantName
from romana.core.ipam import KeyInUse
from unit.services.conftest import Services

H1 = HostName("h1")
H2 = HostName("h2")
KEY_K = AllocationKey("k")
WEB = TenantName("web")


def test_allocation_encodes_host_tenant_segment(svc: Services) -> None:
    t = svc.tenants.create(WEB)
    assert t.ids == {"net4": 1}
    svc.tenants.add_segment(WEB, SegmentName("db"))
    # h2 is the first host of rack-b: topology value 128 → 10.128.0.0/16.
    a = svc.ipam.allocate(AllocationKey("c1:eth0"), H2, WEB, SegmentName("db"))
    assert [str(x) for x in a.addresses] == ["10.128.17.1"]
    b = svc.ipam.allocate(AllocationKey("c2:eth0"), H1, WEB)
    assert [str(x) for x in b.addresses] == ["10.0.16.1"]


def test_same_key_returns_same_address(svc: Services) -> None:
    svc.tenants.create(WEB)
    first = svc.ipam.allocate(KEY_K, H1, WEB)
    assert svc.ipam.allocate(KEY_K, H1, WEB) == first
    with pytest.raises(AlreadyExists, match="already allocated to host 'h1'") as refused:
        svc.ipam.allocate(KEY_K, H2, WEB)
    # The holder travels with the refusal, for the API to decide who may see it.
    assert isinstance(refused.value, KeyInUse) and refused.value.existing == first
    assert str(refused.value.undisclosed()) == "key 'k' is already in use; choose another key"


def test_release_by_key_and_address_and_lowest_free_reuse(svc: Services) -> None:
    svc.tenants.create(WEB)
    addrs = [str(svc.ipam.allocate(AllocationKey(f"k{i}"), H1, WEB).addresses[0]) for i in range(3)]
    assert addrs == ["10.0.16.1", "10.0.16.2", "10.0.16.3"]
    svc.ipam.release(AllocationKey("k1"))
    assert str(svc.ipam.allocate(AllocationKey("k9"), H1, WEB).addresses[0]) == "10.0.16.2"
    released = svc.ipam.release_address("10.0.16.3")
    assert released.key == "k2"
    with pytest.raises(NotFound):
        svc.ipam.release(AllocationKey("k2"))
    assert {a.key for a in svc.ipam.list_all(host=H1)} == {"k0", "k9"}


def test_blackouts_are_never_handed_out(svc: Services) -> None:
    svc.tenants.create(WEB)
    svc.ipam.set_blackouts(NetworkName("net4"), ["10.0.16.0/30"])
    assert str(svc.ipam.allocate(KEY_K, H1, WEB).addresses[0]) == "10.0.16.4"
    with pytest.raises(InvalidInput, match=r"blackouts\[0\]"):
        svc.ipam.set_blackouts(NetworkName("net4"), ["11.0.0.0/8"])


def test_each_change_to_tenant_or_blackouts_shows_in_the_next_allocation(svc: Services) -> None:
    # Allocation reuses what it parsed of these records while they are unchanged.
    svc.tenants.create(TenantName("first"))
    svc.tenants.create(WEB)  # tenant id 2 in net4
    assert str(svc.ipam.allocate(AllocationKey("a"), H1, WEB).addresses[0]) == "10.0.32.1"
    svc.ipam.set_blackouts(NetworkName("net4"), ["10.0.32.2/31"])
    assert str(svc.ipam.allocate(AllocationKey("b"), H1, WEB).addresses[0]) == "10.0.32.4"
    svc.ipam.set_blackouts(NetworkName("net4"), [])
    assert str(svc.ipam.allocate(AllocationKey("c"), H1, WEB).addresses[0]) == "10.0.32.2"
    for key in ("a", "b", "c"):
        svc.ipam.release(AllocationKey(key))
    svc.tenants.delete(WEB)
    svc.tenants.delete(TenantName("first"))
    svc.tenants.create(WEB)  # the same name, now tenant id 1
    assert str(svc.ipam.allocate(AllocationKey("d"), H1, WEB).addresses[0]) == "10.0.16.1"


def test_exhaustion_names_host_tenant_segment_and_capacity(svc: Services) -> None:
    svc.tenants.create(WEB)
    svc.ipam.set_blackouts(
        NetworkName("net4"), ["10.0.16.0/25", "10.0.16.128/26", "10.0.16.192/27"]
    )
    for i in range(31):  # ordinals 224..254 remain
        svc.ipam.allocate(AllocationKey(f"k{i}"), H1, WEB)
    with pytest.raises(Exhausted, match=r"host index 0, tenant id 1, segment id 0.*capacity 254"):
        svc.ipam.allocate(AllocationKey("last"), H1, WEB)


def test_unknown_tenant_host_segment(svc: Services) -> None:
    svc.tenants.create(WEB)
    with pytest.raises(NotFound, match="tenant 'nope'"):
        svc.ipam.allocate(KEY_K, H1, TenantName("nope"))
    with pytest.raises(NotFound, match="host 'hx'"):
        svc.ipam.allocate(KEY_K, HostName("hx"), WEB)
    with pytest.raises(NotFound, match="segment 'x'"):
        svc.ipam.allocate(KEY_K, H1, WEB, SegmentName("x"))
    with pytest.raises(InvalidInput, match="key"):
        svc.ipam.allocate(AllocationKey("../bad"), H1, WEB)


def test_host_prefix_not_reused_while_addresses_remain(svc: Services) -> None:
    svc.tenants.create(WEB)
    svc.ipam.allocate(KEY_K, H2, WEB)
    svc.topology.remove_host(H2)
    # h4 joins rack-b: index 128 still holds k's address, so it gets the next index.
    h4 = svc.topology.add_host(HostName("h4"), "192.0.2.4", {"rack": "b"})
    assert h4["prefixes"]["net4"] != "10.128.0.0/16"
    svc.ipam.release(KEY_K)
    h5 = svc.topology.add_host(HostName("h5"), "192.0.2.5", {"rack": "b"})
    assert h5["prefixes"]["net4"] == "10.128.0.0/16"


def test_tenant_delete_refused_while_holding_addresses(svc: Services) -> None:
    svc.tenants.create(WEB)
    svc.ipam.allocate(KEY_K, H1, WEB)
    with pytest.raises(Conflict, match="still holds 1 addresses"):
        svc.tenants.delete(WEB)
    svc.ipam.release(KEY_K)
    svc.tenants.delete(WEB)
    # The freed id is reused lowest-first.
    assert svc.tenants.create(TenantName("other")).ids == {"net4": 1}


def test_tenant_ids_lowest_free_and_exhaustion(svc: Services) -> None:
    for i in range(15):
        svc.tenants.create(TenantName(f"t{i}"))
    with pytest.raises(Exhausted, match="net4 \\(15 tenants\\)"):
        svc.tenants.create(TenantName("t15"))
    svc.tenants.delete(TenantName("t3"))
    assert svc.tenants.create(TenantName("again")).ids == {"net4": 4}


def test_topology_that_would_orphan_addresses_is_refused(svc: Services) -> None:
    from unit.services.conftest import DOC

    svc.tenants.create(WEB)
    svc.ipam.allocate(KEY_K, H2, WEB)
    # DOC lists no hosts, so applying it again would drop h2 and its addressed prefix.
    with pytest.raises(Conflict, match=r"removes host 'h2', whose prefix 10\.128\.0\.0/16"):
        svc.topology.apply(DOC)
    svc.ipam.release(KEY_K)
    svc.topology.apply(DOC)
    assert svc.topology.list_hosts() == []
