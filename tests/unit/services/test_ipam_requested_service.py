"""Allocating a requested address over a real store: exactly it, once, and only if it fits."""

from __future__ import annotations

import copy

import pytest

from romana.core.errors import AlreadyExists, InvalidInput
from romana.core.identifiers import AllocationKey, HostName, NetworkName, SegmentName, TenantName
from romana.core.ipam import AddressInUse
from romana.core.store import Store
from romana.services import quotas
from unit.services.conftest import DOC, Services

H1 = HostName("h1")
H2 = HostName("h2")
WEB = TenantName("web")
DB = SegmentName("db")


def key(name: str) -> AllocationKey:
    return AllocationKey(name)


def refused(svc: Services, address: str, host: HostName = H1, segment: str = "default") -> str:
    """The message of an InvalidInput for requesting ``address``; asserts nothing was held."""
    before = svc.ipam.list_all()
    with pytest.raises(InvalidInput) as exc:
        svc.ipam.allocate_reporting(key("x"), host, WEB, SegmentName(segment), address)
    assert [i.field for i in exc.value.issues] == ["address"]
    assert svc.ipam.list_all() == before
    return str(exc.value)


@pytest.fixture
def web(svc: Services) -> Services:
    svc.tenants.create(WEB)
    svc.tenants.add_segment(WEB, DB)
    return svc


def test_the_requested_address_is_allocated_and_skipped_by_the_lowest_free(web: Services) -> None:
    alloc, created = web.ipam.allocate_reporting(key("a"), H1, WEB, address="10.0.16.7")
    assert created and [str(a) for a in alloc.addresses] == ["10.0.16.7"]
    assert web.ipam.key_of("10.0.16.7") == "a"
    lowest = [str(web.ipam.allocate(key(f"n{i}"), H1, WEB).addresses[0]) for i in range(7)]
    assert lowest == [f"10.0.16.{o}" for o in (1, 2, 3, 4, 5, 6, 8)]
    web.ipam.release(key("a"))
    assert str(web.ipam.allocate(key("b"), H1, WEB).addresses[0]) == "10.0.16.7"


def test_the_same_key_and_address_is_idempotent_another_address_is_refused(
    web: Services,
) -> None:
    first, created = web.ipam.allocate_reporting(key("a"), H1, WEB, DB, "10.0.17.9")
    assert created
    assert web.ipam.allocate_reporting(key("a"), H1, WEB, DB, "10.0.17.9") == (first, False)
    assert web.ipam.allocate_reporting(key("a"), H1, WEB, DB) == (first, False)
    with pytest.raises(AlreadyExists) as other:
        web.ipam.allocate_reporting(key("a"), H1, WEB, DB, "10.0.17.10")
    assert str(other.value) == (
        "key 'a' holds 10.0.17.9, not the requested address 10.0.17.10; release it first, "
        "or use another key"
    )
    assert web.ipam.list_all() == [first]


def test_an_address_held_by_another_key_is_refused_naming_it(web: Services) -> None:
    held = web.ipam.allocate(key("a"), H1, WEB)
    with pytest.raises(AddressInUse) as taken:
        web.ipam.allocate_reporting(key("b"), H1, WEB, address="10.0.16.1")
    assert str(taken.value) == "address 10.0.16.1 is allocated to key 'a'"
    # The holder travels with the refusal, for the API to decide who may see it.
    assert taken.value.existing == held
    assert str(taken.value.undisclosed()) == "address 10.0.16.1 is already allocated"
    assert web.ipam.list_all() == [held]
    assert quotas.QuotaService(web.store).usage(WEB)["allocations"] == 1


def test_an_address_of_another_host_tenant_or_segment_is_refused(web: Services) -> None:
    web.tenants.create(TenantName("other"))  # tenant id 2
    # h2 is the first host of rack-b: 10.128.0.0/16.
    assert refused(web, "10.128.16.5") == (
        "address: 10.128.16.5 encodes host 'h2' (10.128.0.0/16), not host 'h1' (10.0.0.0/16)"
    )
    assert web.ipam.allocate_reporting(key("ok"), H2, WEB, address="10.128.16.5")[1]
    assert refused(web, "10.0.32.5") == (
        "address: 10.0.32.5 encodes tenant id 2, not tenant 'web' (id 1 in network 'net4')"
    )
    assert refused(web, "10.0.17.5") == (
        "address: 10.0.17.5 encodes segment 'db' (id 1), not segment 'default' (id 0) of "
        "tenant 'web'"
    )
    assert refused(web, "10.0.16.5", segment="db").startswith(
        "address: 10.0.16.5 encodes segment 'default' (id 0), not segment 'db' (id 1)"
    )


def test_gateways_reserved_blacked_out_and_foreign_addresses_are_refused(web: Services) -> None:
    assert refused(web, "10.0.0.1") == (
        "address: 10.0.0.1 is the gateway of host 'h1'; a gateway is never allocated"
    )
    assert "endpoint ordinal 255 is never handed out" in refused(web, "10.0.16.255")
    assert "endpoint ordinal 0 is never handed out" in refused(web, "10.0.16.0")
    web.ipam.set_blackouts(NetworkName("net4"), ["10.0.16.8/29"])
    assert refused(web, "10.0.16.9") == (
        "address: 10.0.16.9 is inside blackout 10.0.16.8/29 of network 'net4'"
    )
    assert refused(web, "192.0.2.9") == (
        "address: 192.0.2.9 is in no network; tenant 'web' has addresses on host 'h1' in 'net4'"
    )
    # net6 has no topology, so no host has a prefix (nor the tenant an id) there.
    assert "is in network 'net6'" in refused(web, "fd00:10::5")
    assert refused(web, "10.0.16.300") == "address: '10.0.16.300' is not an IP address"


def test_two_replicas_asking_for_one_address_give_it_to_one_key(store: Store) -> None:
    first, second = Services(store), Services(store)
    first.topology.apply(DOC)
    first.topology.add_host(H1, "192.0.2.1", {"rack": "a"})
    first.tenants.create(WEB)
    # Both replicas have cached the tenant and topology before either allocates.
    for svc in (first, second):
        svc.ipam.allocate(key(f"warm-{id(svc)}"), H1, WEB)
    first.ipam.allocate_reporting(key("a"), H1, WEB, address="10.0.16.9")
    with pytest.raises(AlreadyExists, match="allocated to key 'a'"):
        second.ipam.allocate_reporting(key("b"), H1, WEB, address="10.0.16.9")


def test_other_networks_of_the_tenant_get_their_lowest_free_address(store: Store) -> None:
    doc = copy.deepcopy(DOC)
    doc["networks"][1] = {
        "name": "net6",
        "cidr": "fd00:10::/64",
        "tenant_bits": 8,
        "segment_bits": 8,
        "endpoint_bits": 40,
    }
    doc["topologies"][0]["networks"] = ["net4", "net6"]
    svc = Services(store)
    svc.topology.apply(doc)
    svc.topology.add_host(H1, "192.0.2.1", {"rack": "a"})
    svc.tenants.create(WEB)
    svc.ipam.allocate(key("first"), H1, WEB)
    alloc = svc.ipam.allocate(key("a"), H1, WEB)
    assert [str(a) for a in alloc.addresses] == ["10.0.16.2", "fd00:10::1:0:0:2"]
    svc.ipam.release(key("a"))
    wanted = svc.ipam.allocate_reporting(key("b"), H1, WEB, address="fd00:10::1:0:0:77")[0]
    assert [str(a) for a in wanted.addresses] == ["10.0.16.2", "fd00:10::1:0:0:77"]
