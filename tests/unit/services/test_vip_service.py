"""VIPs over the store: their addresses beside external IPs, their endpoints, and how romanad
grants, renews, refuses and moves their leases."""

from __future__ import annotations

import copy
import ipaddress
import threading
from typing import Any

import pytest

from romana.core import external, vips
from romana.core.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from romana.core.identifiers import AllocationKey, HostName, TenantName
from romana.core.store import Store
from romana.core.vips import Vip
from romana.services import keys
from romana.services.external import ExternalService
from romana.services.vips import VipService
from unit.services.conftest import DOC, Services

BLUE = TenantName("blue")
A = ipaddress.ip_address
H1, H2, H3 = HostName("h1"), HostName("h2"), HostName("h3")
TTL = vips.DEFAULT_TTL


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def dual(store: Store) -> Services:
    """Both networks in one tree (every host dual stack), hosts h1 (rack a), h2 and h3
    (rack b), tenant blue; endpoints c1 on h1, c2 on h2."""
    s = Services(store)
    doc: dict[str, Any] = copy.deepcopy(DOC)
    doc["topologies"][0]["networks"] = ["net4", "net6"]
    doc["networks"][1]["endpoint_bits"] = 40
    s.topology.apply(doc)
    for name, rack in (("h1", "a"), ("h2", "b"), ("h3", "b")):
        s.topology.add_host(HostName(name), f"192.0.2.{name[1]}", {"rack": rack})
    s.tenants.create(BLUE)
    s.ipam.allocate(AllocationKey("c1:eth0"), H1, BLUE)
    s.ipam.allocate(AllocationKey("c2:eth0"), H2, BLUE)
    return s


def _ext(s: Services) -> ExternalService:
    return ExternalService(s.store, s.tenants, s.topology)


def _vips(s: Services, clock: Clock | None = None) -> VipService:
    return VipService(s.store, _ext(s), s.ipam, ttl=TTL, clock=clock or Clock())


def _pool(s: Services, *cidrs: str, name: str = "public", group: str | None = None) -> None:
    _ext(s).create(external.parse_pool(name, cidrs, group))


def _snapshot(store: Store) -> list[tuple[str, bytes]]:
    return [(kv.key, kv.value) for kv in store.range(keys.ROOT).items]


def _revision(store: Store, key: str) -> int:
    kv = store.get(key)
    assert kv is not None, key
    return kv.mod_revision


def test_a_vip_is_created_read_listed_and_deleted_with_its_reservation(dual: Services) -> None:
    _pool(dual, "203.0.113.0/29", "2001:db8:e::/125")
    svc = _vips(dual)
    c2 = dual.ipam.get(AllocationKey("c2:eth0")).addresses[0]
    vip = svc.create("web", "public", ["c1:eth0", str(c2)])
    assert vip == Vip("web", A("203.0.113.1"), "public", (AllocationKey("c1:eth0"),
                      AllocationKey("c2:eth0")))  # fmt: skip
    assert svc.get("web") == vip and svc.list() == [vip]
    reserved = _ext(dual).ips()
    assert [(str(ip.address), ip.vip, ip.key, ip.tenant) for ip in reserved] == [
        ("203.0.113.1", "web", "", "")
    ]
    # The same again, endpoints in another order or by key, with or without the address.
    revision = dual.store.revision()
    assert svc.create("web", "public", ["c2:eth0", "c1:eth0"]) == vip
    assert svc.create_reporting("web", "public", ["c1:eth0", "c2:eth0"], A("203.0.113.1")) == (
        vip,
        False,
    )
    assert dual.store.revision() == revision
    with pytest.raises(AlreadyExists) as other:
        svc.create("web", "other", ["c1:eth0"], A("203.0.113.2"))
    text = str(other.value)
    assert "pool 'public' (not 'other')" in text
    assert "endpoints [c1:eth0, c2:eth0] (not [c1:eth0])" in text
    assert "address 203.0.113.1 (not 203.0.113.2)" in text
    svc.lease("web", H1)
    assert svc.delete("web") == vip
    assert [kv.key for kv in dual.store.range(keys.ROOT).items if "vip" in kv.key] == []
    assert _ext(dual).ips() == []
    with pytest.raises(NotFound, match="VIP 'web' does not exist"):
        svc.get("web")
    with pytest.raises(NotFound):
        svc.delete("web")


def test_an_ipv6_only_pool_gives_an_ipv6_address_and_a_vip_may_have_no_endpoints(
    dual: Services,
) -> None:
    _pool(dual, "2001:db8:e::/125", name="six")
    svc = _vips(dual)
    assert svc.create("six", "six", ["c1:eth0"]).address == A("2001:db8:e::1")
    assert svc.create("none", "six", []).address == A("2001:db8:e::2")


def test_vips_and_external_ips_never_share_an_address(dual: Services) -> None:
    _pool(dual, "203.0.113.0/29")
    ext, svc = _ext(dual), _vips(dual)
    ext.assign("public", "c1:eth0", A("203.0.113.1"))
    before = _snapshot(dual.store)
    with pytest.raises(AlreadyExists, match="assigned already, to endpoint 'c1:eth0'"):
        svc.create("web", "public", ["c2:eth0"], A("203.0.113.1"))
    assert _snapshot(dual.store) == before
    assert svc.create("web", "public", ["c2:eth0"]).address == A("203.0.113.2")  # the next
    before = _snapshot(dual.store)
    with pytest.raises(AlreadyExists, match=r"203\.0\.113\.2 is assigned already, to VIP 'web'"):
        ext.assign("public", "c2:eth0", A("203.0.113.2"))
    with pytest.raises(InvalidInput) as unassign:
        ext.unassign(A("203.0.113.2"))
    assert [i.field for i in unassign.value.issues] == ["address"]
    assert "the address of VIP 'web'" in str(unassign.value) and "delete the VIP" in str(
        unassign.value
    )
    with pytest.raises(Conflict, match=r"\(allocation 'c1:eth0'\); unassign its external IPs "):
        ext.delete("public")
    assert _snapshot(dual.store) == before
    assert ext.assign("public", "c2:eth0").address == A("203.0.113.3")  # skips the VIP's
    assert ext.ip(A("203.0.113.2")).vip == "web"
    ext.unassign(A("203.0.113.1"))
    ext.unassign(A("203.0.113.3"))
    with pytest.raises(Conflict, match=r"\(VIP 'web'\); delete its VIPs first"):
        ext.delete("public")
    svc.delete("web")
    ext.delete("public")


def test_bad_vips_name_their_field_and_write_nothing(svc: Services) -> None:
    # net6 is in no tree here: endpoints are IPv4 only.
    svc.tenants.create(BLUE)
    svc.ipam.allocate(AllocationKey("c1:eth0"), H1, BLUE)
    _pool(svc, "203.0.113.0/29", "2001:db8:e::/125")
    _pool(svc, "2001:db8:f::/125", name="six")
    vips = _vips(svc)
    vips.create("taken", "public", ["c1:eth0"], A("203.0.113.5"))
    before = _snapshot(svc.store)
    cases: list[tuple[str, str, list[str], str | None, type[Exception], str]] = [
        ("-bad", "public", ["c1:eth0"], None, InvalidInput, "name: '-bad' must be 1-63"),
        ("web", "public", ["c1:eth0", "-x"], None, InvalidInput, "endpoints[1]: must be"),
        ("web", "public", ["c1:eth0", "c9:eth0"], None, NotFound, "endpoints[1]: no allocation"),
        ("web", "public", ["10.9.9.9"], None, NotFound, "endpoints[0]: address 10.9.9.9 is not"),
        ("web", "public", ["c1:eth0", "c1:eth0"], None, InvalidInput, "named twice"),
        ("web", "nope", ["c1:eth0"], None, NotFound, "external pool 'nope' does not exist"),
        ("web", "public", ["c1:eth0"], "198.51.100.1", InvalidInput, "address: 198.51.100.1 is"),
        ("web", "public", ["c1:eth0"], "203.0.113.7", InvalidInput, "broadcast address"),
        ("web", "public", ["c1:eth0"], "2001:db8:e::1", InvalidInput, "no endpoint has a romana"),
        ("web", "six", ["c1:eth0"], None, InvalidInput, "pool: external pool 'six' has IPv6"),
        ("web", "public", ["c1:eth0"], "203.0.113.5", AlreadyExists, "to VIP 'taken'"),
    ]
    for name, pool, endpoints, address, error, says in cases:
        wanted = None if address is None else A(address)
        with pytest.raises(error) as refused:
            vips.create(name, pool, endpoints, wanted)
        assert says in str(refused.value), (name, endpoints, address, str(refused.value))
    assert _snapshot(svc.store) == before


def test_set_endpoints_replaces_them_and_checks_them(dual: Services) -> None:
    _pool(dual, "203.0.113.0/29")
    svc = _vips(dual)
    svc.create("web", "public", ["c1:eth0"])
    assert svc.set_endpoints("web", ["c2:eth0", "c1:eth0"]).endpoints == ("c2:eth0", "c1:eth0")
    revision = dual.store.revision()
    assert svc.set_endpoints("web", ["c1:eth0", "c2:eth0"]).endpoints == ("c2:eth0", "c1:eth0")
    assert dual.store.revision() == revision
    before = _snapshot(dual.store)
    with pytest.raises(NotFound, match=r"endpoints\[0\]: no allocation 'c9:eth0'"):
        svc.set_endpoints("web", ["c9:eth0"])
    with pytest.raises(NotFound, match="VIP 'nope' does not exist"):
        svc.set_endpoints("nope", ["c1:eth0"])
    assert _snapshot(dual.store) == before
    assert svc.set_endpoints("web", []).endpoints == ()


def test_a_lease_goes_to_an_eligible_host_renews_and_moves_only_when_it_expires(
    dual: Services,
) -> None:
    _pool(dual, "203.0.113.0/29")
    clock = Clock()
    svc = _vips(dual, clock)
    svc.create("web", "public", ["c1:eth0", "c2:eth0"])
    # A host without an endpoint of the VIP is never granted it, and asking writes nothing.
    revision = dual.store.revision()
    assert svc.lease("web", H3) == {"vip": "web", "held": False, "holder": None, "term": 0,
                                    "ttl": TTL, "expires_in": 0.0}  # fmt: skip
    assert dual.store.revision() == revision
    first = svc.lease("web", H1)
    assert first == {"vip": "web", "held": True, "holder": "h1", "term": 1, "ttl": TTL,
                     "expires_in": pytest.approx(TTL)}  # fmt: skip
    assert svc.holders() == {"web": (H1, 1)}
    assert svc.holder("web") == H1 and svc.current() == {"web": H1}
    holder_revision = _revision(dual.store, keys.vip_holder("web"))
    lease_revision = _revision(dual.store, keys.vip_lease("web"))
    # Renewals move the lease key only; another host is refused while the lease is valid.
    for _ in range(3):
        clock.now += TTL / 2
        assert svc.lease("web", H1)["held"] is True
        refused = svc.lease("web", H2)
        assert (refused["held"], refused["holder"], refused["term"]) == (False, "h1", 1)
        assert refused["expires_in"] == pytest.approx(TTL)
    assert _revision(dual.store, keys.vip_lease("web")) > lease_revision
    assert _revision(dual.store, keys.vip_holder("web")) == holder_revision
    # The holder stops renewing: once the lease expired, the other host takes it.
    clock.now += TTL
    assert svc.holder("web") is None and svc.current() == {}
    taken = svc.lease("web", H2)
    assert (taken["held"], taken["holder"], taken["term"]) == (True, "h2", 2)
    assert svc.holders() == {"web": (H2, 2)}
    assert _revision(dual.store, keys.vip_holder("web")) > holder_revision
    assert svc.lease("web", H1)["held"] is False


def test_release_ends_a_lease_at_once_and_only_the_holders(dual: Services) -> None:
    _pool(dual, "203.0.113.0/29")
    clock = Clock()
    svc = _vips(dual, clock)
    svc.create("web", "public", ["c1:eth0", "c2:eth0"])
    svc.lease("web", H1)
    holder_revision = _revision(dual.store, keys.vip_holder("web"))
    revision = dual.store.revision()
    assert svc.lease("web", H2, release=True)["holder"] == "h1"  # not its to give up
    assert dual.store.revision() == revision
    released = svc.lease("web", H1, release=True)
    assert (released["held"], released["holder"], released["expires_in"]) == (False, None, 0.0)
    assert _revision(dual.store, keys.vip_holder("web")) == holder_revision
    taken = svc.lease("web", H2)  # at once, no waiting for the ttl
    assert (taken["held"], taken["term"]) == (True, 2)


def test_a_holder_without_an_endpoint_left_loses_the_vip(dual: Services) -> None:
    _pool(dual, "203.0.113.0/29")
    svc = _vips(dual)
    svc.create("web", "public", ["c1:eth0", "c2:eth0"])
    assert svc.lease("web", H1)["held"] is True
    svc.set_endpoints("web", ["c2:eth0"])
    assert svc.lease("web", H1)["held"] is False  # no renewal once not eligible
    taken = svc.lease("web", H2)  # while h1's lease is still valid
    assert (taken["held"], taken["term"]) == (True, 2)
    # A released allocation counts as no endpoint, and a moved one where it lives now.
    dual.ipam.release(AllocationKey("c2:eth0"))
    assert svc.lease("web", H2)["held"] is False
    svc.set_endpoints("web", ["c1:eth0"])
    dual.ipam.move(AllocationKey("c1:eth0"), H3)
    assert svc.lease("web", H1)["held"] is False
    assert svc.lease("web", H3)["held"] is True


def test_a_pools_group_limits_which_hosts_may_hold_its_vips(dual: Services) -> None:
    _pool(dual, "203.0.113.0/29", group="rack-b")
    svc = _vips(dual)
    svc.create("web", "public", ["c1:eth0", "c2:eth0"])
    assert svc.lease("web", H1)["held"] is False  # h1 is in rack a
    assert svc.lease("web", H2)["held"] is True


def test_a_lease_of_an_unknown_vip_or_host_is_not_found(dual: Services) -> None:
    _pool(dual, "203.0.113.0/29")
    svc = _vips(dual)
    with pytest.raises(NotFound, match="VIP 'nope' does not exist"):
        svc.lease("nope", H1)
    svc.create("web", "public", ["c1:eth0"])
    with pytest.raises(NotFound, match="host 'h9' does not exist"):
        svc.lease("web", HostName("h9"))
    assert dual.store.get(keys.vip_lease("web")) is None


def test_hosts_asking_at_once_get_one_holder(dual: Services) -> None:
    _pool(dual, "203.0.113.0/29")
    dual.ipam.allocate(AllocationKey("c3:eth0"), H3, BLUE)
    svc = _vips(dual)
    for round_ in range(5):
        name = f"race-{round_}"
        svc.create(name, "public", ["c1:eth0", "c2:eth0", "c3:eth0"])
        answers: dict[str, bool] = {}

        def ask(host: HostName, vip: str = name, into: dict[str, bool] = answers) -> None:
            into[host] = bool(svc.lease(vip, host)["held"])

        threads = [threading.Thread(target=ask, args=(h,)) for h in (H1, H2, H3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(answers.values()) == [False, False, True], answers
        assert svc.holders()[name] == (HostName(next(h for h, v in answers.items() if v)), 1)
        svc.delete(name)


def test_a_ttl_outside_its_bounds_is_refused(dual: Services) -> None:
    with pytest.raises(InvalidInput, match="ttl"):
        VipService(dual.store, _ext(dual), dual.ipam, ttl=vips.MIN_TTL / 2)
