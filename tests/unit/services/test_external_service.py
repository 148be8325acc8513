"""External pools, external IPs and egress NAT over the store: what is assigned, to whom, and
what a refusal, a release and a move leave behind."""

from __future__ import annotations

import copy
import ipaddress
import threading
from typing import Any

import pytest

from romana.core import external
from romana.core.errors import AlreadyExists, Conflict, Exhausted, InvalidInput, NotFound
from romana.core.external import EgressNat, ExternalPool, NatMode
from romana.core.identifiers import AllocationKey, HostName, NetworkName, TenantName
from romana.core.store import Store
from romana.services import keys
from romana.services.external import ExternalService
from unit.services.conftest import DOC, Services

BLUE = TenantName("blue")
RED = TenantName("red")
A = ipaddress.ip_address


@pytest.fixture
def dual(store: Store) -> Services:
    """Both networks in one tree (every host dual stack), hosts h1 (rack a), h2 and h3
    (rack b), tenants blue and red."""
    s = Services(store)
    doc: dict[str, Any] = copy.deepcopy(DOC)
    doc["topologies"][0]["networks"] = ["net4", "net6"]
    doc["networks"][1]["endpoint_bits"] = 40  # 8 topology bits, as net4 has
    s.topology.apply(doc)
    for name, rack in (("h1", "a"), ("h2", "b"), ("h3", "b")):
        s.topology.add_host(HostName(name), f"192.0.2.{name[1]}", {"rack": rack})
    s.tenants.create(BLUE)
    s.tenants.create(RED)
    return s


def _svc(s: Services) -> ExternalService:
    return ExternalService(s.store, s.tenants, s.topology)


def _pool(*cidrs: str, name: str = "public", group: str | None = None) -> ExternalPool:
    return external.parse_pool(name, cidrs, group)


def _snapshot(store: Store) -> list[tuple[str, bytes]]:
    return [(kv.key, kv.value) for kv in store.range(keys.ROOT).items]


def _allocate(s: Services, key: str, host: str = "h1", tenant: TenantName = BLUE) -> Any:
    return s.ipam.allocate(AllocationKey(key), HostName(host), tenant)


def test_a_pool_is_created_read_listed_and_deleted(dual: Services) -> None:
    ext = _svc(dual)
    pool = _pool("203.0.113.0/28", "2001:db8:e::/120", group="rack-a")
    assert ext.create(pool) == pool
    assert ext.get("public") == pool
    assert ext.list() == [pool]
    revision = dual.store.revision()
    assert ext.create(pool) == pool
    assert dual.store.revision() == revision  # the same pool again writes nothing
    assert ext.delete("public") == pool
    assert ext.list() == []
    with pytest.raises(NotFound, match="external pool 'public' does not exist"):
        ext.get("public")
    with pytest.raises(NotFound):
        ext.delete("public")


def test_another_pool_of_the_same_name_is_refused_naming_what_differs(dual: Services) -> None:
    ext = _svc(dual)
    first = ext.create(_pool("203.0.113.0/28"))
    with pytest.raises(AlreadyExists) as refused:
        ext.create(_pool("203.0.113.0/27", group="rack-a"))
    text = str(refused.value)
    assert "cidrs [203.0.113.0/28] (not [203.0.113.0/27])" in text
    assert "group None (not 'rack-a')" in text
    assert ext.get("public") == first


def test_a_pool_overlapping_a_network_or_pool_or_naming_no_group_writes_nothing(
    dual: Services,
) -> None:
    ext = _svc(dual)
    ext.create(_pool("198.51.100.0/24", name="other"))
    before = _snapshot(dual.store)
    bad = _pool("10.1.0.0/16", "198.51.100.0/25", "fd00:10::/64", name="bad", group="rack-z")
    with pytest.raises(InvalidInput) as refused:
        ext.create(bad)
    assert [i.field for i in refused.value.issues] == ["cidrs[0]", "cidrs[1]", "cidrs[2]", "group"]
    text = str(refused.value)
    assert "romana network 'net4'" in text and "romana network 'net6'" in text
    assert "external pool 'other'" in text and "no topology group is named 'rack-z'" in text
    assert _snapshot(dual.store) == before


def test_assign_picks_the_lowest_free_address_and_again_is_idempotent(dual: Services) -> None:
    ext = _svc(dual)
    ext.create(_pool("203.0.113.0/29", "2001:db8:e::/125"))
    alloc = _allocate(dual, "c1:eth0")
    first = ext.assign("public", "c1:eth0")
    assert first.to_dict() == {"address": "203.0.113.1", "pool": "public", "key": "c1:eth0",
                               "tenant": "blue"}  # fmt: skip
    revision = dual.store.revision()
    assert ext.assign("public", "c1:eth0") == first  # no address: what it holds
    assert ext.assign("public", "c1:eth0", A("203.0.113.1")) == first
    assert ext.assign_reporting("public", "c1:eth0", A("203.0.113.1")) == (first, False)
    assert dual.store.revision() == revision
    # The IPv6 one is asked for by address, or by one of the endpoint's romana addresses.
    v6 = ext.assign("public", str(alloc.addresses[0]), A("2001:db8:e::1"))
    assert v6.key == "c1:eth0"
    _allocate(dual, "c2:eth0", host="h2")
    assert ext.assign("public", "c2:eth0").address == A("203.0.113.2")
    assert [str(ip.address) for ip in ext.ips()] == ["203.0.113.1", "203.0.113.2", "2001:db8:e::1"]
    assert ext.ips(key=AllocationKey("c1:eth0")) == [first, v6]
    assert ext.ips(pool="other") == []
    assert ext.ips(tenant=RED) == []
    assert ext.ip(A("2001:db8:e::1")) == v6
    index = dual.store.get(keys.external_by_key(AllocationKey("c1:eth0")))
    assert index is not None and index.value == b'["203.0.113.1","2001:db8:e::1"]'


def test_assign_refusals_name_their_field_and_write_nothing(dual: Services) -> None:
    ext = _svc(dual)
    ext.create(_pool("203.0.113.0/29", "2001:db8:e::/125"))
    ext.create(_pool("198.51.100.0/30", name="other"))
    _allocate(dual, "c1:eth0")
    _allocate(dual, "c2:eth0")
    ext.assign("public", "c1:eth0", A("203.0.113.3"))
    before = _snapshot(dual.store)
    in_none = (
        "198.51.100.1 is in no CIDR of external pool 'public' (203.0.113.0/29, 2001:db8:e::/125)"
    )
    edge = "network or broadcast address of 203.0.113.0/29"
    held = "holds external IPv4 address 203.0.113.3 already"
    cases: list[tuple[str, str, str | None, type[Exception], str]] = [
        ("public", "c2:eth0", "198.51.100.1", InvalidInput, f"address: {in_none}"),
        ("public", "c2:eth0", "203.0.113.0", InvalidInput, edge),
        ("public", "c2:eth0", "203.0.113.7", InvalidInput, edge),
        ("public", "c2:eth0", "2001:db8:e::", InvalidInput, "subnet-router anycast address"),
        ("public", "c2:eth0", "203.0.113.3", AlreadyExists, "already, to endpoint 'c1:eth0'"),
        ("other", "c1:eth0", None, InvalidInput, held),
        ("public", "c1:eth0", "203.0.113.4", InvalidInput, held),
        ("nope", "c2:eth0", None, NotFound, "external pool 'nope' does not exist"),
        ("public", "c9:eth0", None, NotFound, "no allocation 'c9:eth0'"),
        ("public", "10.9.9.9", None, NotFound, "address 10.9.9.9 is not allocated"),
        ("public", "192.0.2.1", None, NotFound, "in no romana network"),
        ("public", "-bad", None, InvalidInput, "endpoint: must be 1-253 characters"),
    ]
    for pool, endpoint, address, error, says in cases:
        wanted = None if address is None else A(address)
        with pytest.raises(error) as refused:
            ext.assign(pool, endpoint, wanted)
        assert says in str(refused.value), (endpoint, address, str(refused.value))
    assert _snapshot(dual.store) == before


def test_an_endpoint_needs_a_romana_address_of_the_family(svc: Services) -> None:
    ext = _svc(svc)  # net6 is in no tree here: endpoints are IPv4 only
    svc.tenants.create(BLUE)
    ext.create(_pool("2001:db8:e::/125", name="six"))
    ext.create(_pool("203.0.113.0/29", "2001:db8:f::/125", name="both"))
    _allocate(svc, "c1:eth0")
    before = _snapshot(svc.store)
    with pytest.raises(InvalidInput) as by_pool:
        ext.assign("six", "c1:eth0")
    assert [i.field for i in by_pool.value.issues] == ["pool"]
    assert "has IPv6 CIDRs only and endpoint 'c1:eth0' has romana IPv4 addresses only" in str(
        by_pool.value
    )
    with pytest.raises(InvalidInput) as by_address:
        ext.assign("both", "c1:eth0", A("2001:db8:f::1"))
    assert [i.field for i in by_address.value.issues] == ["address"]
    assert "has no romana IPv6 address" in str(by_address.value)
    assert _snapshot(svc.store) == before
    assert ext.assign("both", "c1:eth0").address == A("203.0.113.1")  # its family, not IPv6


def test_an_exhausted_pool_says_so(dual: Services) -> None:
    ext = _svc(dual)
    ext.create(_pool("203.0.113.0/31"))
    for key in ("c1:eth0", "c2:eth0", "c3:eth0"):
        _allocate(dual, key)
    ext.assign("public", "c1:eth0")
    ext.assign("public", "c2:eth0")
    with pytest.raises(Exhausted, match=r"no free IPv4 address \(its IPv4 CIDRs: 203.0.113.0/31\)"):
        ext.assign("public", "c3:eth0")


def test_a_pools_group_restricts_the_hosts_of_its_endpoints(dual: Services) -> None:
    ext = _svc(dual)
    ext.create(_pool("203.0.113.0/29", group="rack-b"))
    _allocate(dual, "on-a:eth0", host="h1")
    _allocate(dual, "on-b:eth0", host="h2")
    before = _snapshot(dual.store)
    with pytest.raises(InvalidInput) as refused:
        ext.assign("public", "on-a:eth0")
    assert [i.field for i in refused.value.issues] == ["endpoint"]
    assert "lives on host 'h1', which is not in group 'rack-b'" in str(refused.value)
    assert _snapshot(dual.store) == before
    assert ext.assign("public", "on-b:eth0").address == A("203.0.113.1")


def test_a_pools_network_restricts_its_endpoints(svc: Services) -> None:
    ext = _svc(svc)  # net6 is in no tree here: endpoints have net4 addresses only
    svc.tenants.create(BLUE)
    before = _snapshot(svc.store)
    with pytest.raises(InvalidInput) as unknown:
        ext.create(external.parse_pool("web", ["203.0.113.0/29"], network="nope"))
    assert [i.field for i in unknown.value.issues] == ["network"]
    assert "no romana network 'nope' (networks: net4, net6)" in str(unknown.value)
    assert _snapshot(svc.store) == before
    ext.create(external.parse_pool("six", ["203.0.113.0/29"], network="net6"))
    ext.create(external.parse_pool("four", ["203.0.113.8/29"], network="net4"))
    assert ext.get("four").network == "net4"
    _allocate(svc, "c1:eth0")
    before = _snapshot(svc.store)
    with pytest.raises(InvalidInput) as refused:
        ext.assign("six", "c1:eth0")
    assert [i.field for i in refused.value.issues] == ["endpoint"]
    assert "has no address in network 'net6'" in str(refused.value)
    assert _snapshot(svc.store) == before
    assert ext.assign("four", "c1:eth0").address == A("203.0.113.9")


def test_releasing_an_allocation_drops_its_external_ips_and_moving_it_keeps_them(
    dual: Services,
) -> None:
    ext = _svc(dual)
    ext.create(_pool("203.0.113.0/29", "2001:db8:e::/125", group="rack-b"))
    _allocate(dual, "vm:eth0", host="h2")
    v4 = ext.assign("public", "vm:eth0")
    v6 = ext.assign("public", "vm:eth0", A("2001:db8:e::2"))
    # A move keeps them: they name the allocation, not its host (even one outside the group).
    dual.ipam.move(AllocationKey("vm:eth0"), HostName("h1"))
    assert ext.ips(key=AllocationKey("vm:eth0")) == [v4, v6]
    dual.ipam.release(AllocationKey("vm:eth0"))
    assert ext.ips() == []
    assert dual.store.get(keys.external_by_key(AllocationKey("vm:eth0"))) is None
    assert [kv.key for kv in dual.store.range(keys.EXTERNAL).items] == [
        keys.external_pool("public")
    ]
    # The same key allocated again starts with no external IP, and gets the lowest again.
    _allocate(dual, "vm:eth0", host="h3")
    assert ext.assign("public", "vm:eth0") == v4


def test_a_release_without_external_ips_still_releases(dual: Services) -> None:
    _allocate(dual, "plain:eth0")
    dual.ipam.release(AllocationKey("plain:eth0"))
    assert dual.ipam.list_all() == []


def test_unassign_frees_the_address_and_the_index(dual: Services) -> None:
    ext = _svc(dual)
    ext.create(_pool("203.0.113.0/29", "2001:db8:e::/125"))
    _allocate(dual, "c1:eth0")
    v4 = ext.assign("public", "c1:eth0")
    v6 = ext.assign("public", "c1:eth0", A("2001:db8:e::1"))
    assert ext.unassign(A("203.0.113.1")) == v4
    assert ext.ips() == [v6]
    with pytest.raises(NotFound, match=r"external IP 203\.0\.113\.1 is not assigned"):
        ext.unassign(A("203.0.113.1"))
    with pytest.raises(NotFound):
        ext.unassign(A("2001:db8:e::1"), tenant=RED)  # another tenant's: as if missing
    assert ext.unassign(A("2001:db8:e::1"), tenant=BLUE) == v6
    assert dual.store.get(keys.external_by_key(AllocationKey("c1:eth0"))) is None
    assert ext.assign("public", "c1:eth0", A("203.0.113.5")).address == A("203.0.113.5")


def test_a_caller_scoped_to_a_tenant_cannot_assign_to_anothers_endpoint(dual: Services) -> None:
    ext = _svc(dual)
    ext.create(_pool("203.0.113.0/29"))
    _allocate(dual, "red:eth0", tenant=RED)
    with pytest.raises(NotFound, match="no allocation 'red:eth0'"):
        ext.assign("public", "red:eth0", tenant=BLUE)
    assert ext.ips() == []


def test_a_pool_is_not_deleted_while_an_address_of_it_is_assigned(dual: Services) -> None:
    ext = _svc(dual)
    pool = ext.create(_pool("203.0.113.0/29"))
    for key in ("c1:eth0", "c2:eth0"):
        _allocate(dual, key)
        ext.assign("public", key)
    with pytest.raises(Conflict) as refused:
        ext.delete("public")
    assert "has 2 assigned addresses, e.g. 203.0.113.1 (allocation 'c1:eth0')" in str(refused.value)
    assert ext.get("public") == pool
    dual.ipam.release(AllocationKey("c1:eth0"))
    ext.unassign(A("203.0.113.2"))
    assert ext.delete("public") == pool


def test_egress_nat_defaults_is_set_and_checks_its_names(dual: Services) -> None:
    ext = _svc(dual)
    net4, net6 = NetworkName("net4"), NetworkName("net6")
    assert ext.nat(net4) == external.default_nat(net4)
    assert ext.nats() == [external.default_nat(net4), external.default_nat(net6)]
    setting = external.parse_nat("net6", "tenants", ["blue", "red"], ["fd99::/16"])
    assert ext.set_nat(setting) == setting
    assert ext.nat(net6) == setting
    revision = dual.store.revision()
    assert ext.set_nat(setting) == setting
    assert dual.store.revision() == revision  # the same setting again writes nothing
    assert ext.nats() == [external.default_nat(net4), setting]
    off = EgressNat(net4, NatMode.OFF)
    assert ext.set_nat(off) == off and ext.nat(net4).mode is NatMode.OFF
    before = _snapshot(dual.store)
    with pytest.raises(InvalidInput) as unknown:
        ext.set_nat(external.parse_nat("net4", "tenants", ["blue", "ghost", "nobody"]))
    assert [i.field for i in unknown.value.issues] == ["tenants[1]", "tenants[2]"]
    assert "tenant 'ghost' does not exist" in str(unknown.value)
    with pytest.raises(NotFound, match="network 'nope' does not exist"):
        ext.set_nat(EgressNat(NetworkName("nope")))
    with pytest.raises(NotFound, match="network 'nope' does not exist"):
        ext.nat(NetworkName("nope"))
    with pytest.raises(InvalidInput) as bad:
        ext.set_nat(EgressNat(net4, NatMode.TENANTS))
    assert [i.field for i in bad.value.issues] == ["tenants"]
    assert _snapshot(dual.store) == before


def test_concurrent_assignments_never_share_an_address(dual: Services) -> None:
    ext = _svc(dual)
    ext.create(_pool("203.0.113.0/28"))
    keys_ = [f"race-{i}:eth0" for i in range(8)]
    for key in keys_:
        _allocate(dual, key)
    results: list[str] = []
    errors: list[BaseException] = []

    def assign(key: str) -> None:
        try:
            results.append(str(ext.assign("public", key).address))
        except BaseException as exc:  # reported below, in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=assign, args=(key,)) for key in keys_]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results, key=ipaddress.ip_address) == [f"203.0.113.{i}" for i in range(1, 9)]
    assert len(ext.ips()) == 8
