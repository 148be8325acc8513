"""External pools and egress NAT settings: every check names its field, and the free address
is the lowest one that is neither reserved nor used."""

from __future__ import annotations

import ipaddress

import pytest

from romana.core import external, externaladdress
from romana.core.errors import InvalidInput
from romana.core.external import EgressNat, ExternalIp, ExternalPool, NatMode
from romana.core.identifiers import AllocationKey, NetworkName, TenantName

NETWORKS = {
    "pods": ipaddress.ip_network("10.0.0.0/8"),
    "pods6": ipaddress.ip_network("fd00:10::/48"),
}


def _net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text)


def _pool(*cidrs: str, name: str = "public", group: str | None = None) -> ExternalPool:
    return ExternalPool(name, tuple(_net(c) for c in cidrs), group)


def _fields(exc: pytest.ExceptionInfo[InvalidInput]) -> list[str]:
    return [i.field for i in exc.value.issues]


def test_values_round_trip_through_their_dicts() -> None:
    pool = _pool("203.0.113.0/28", "2001:db8:e::/120", group="rack-a")
    assert pool.to_dict() == {
        "name": "public",
        "cidrs": ["203.0.113.0/28", "2001:db8:e::/120"],
        "group": "rack-a",
        "network": None,
    }
    assert ExternalPool.from_dict(pool.to_dict()) == pool
    ip = ExternalIp(
        ipaddress.ip_address("2001:db8:e::5"), "public", AllocationKey("c1:eth0"), TenantName("t")
    )
    assert ip.to_dict() == {"address": "2001:db8:e::5", "pool": "public", "key": "c1:eth0",
                            "tenant": "t"}  # fmt: skip
    assert ExternalIp.from_dict(ip.to_dict()) == ip
    nat = EgressNat(NetworkName("pods"), NatMode.TENANTS, (TenantName("a"),), (_net("1.0.0.0/8"),))
    assert nat.to_dict() == {"network": "pods", "mode": "tenants", "tenants": ["a"],
                             "no_nat": ["1.0.0.0/8"]}  # fmt: skip
    assert EgressNat.from_dict(nat.to_dict()) == nat


def test_a_network_nobody_set_masquerades_with_no_exceptions() -> None:
    default = external.default_nat(NetworkName("pods"))
    assert default == EgressNat(NetworkName("pods"), NatMode.ON, (), ())
    assert default.to_dict()["mode"] == "on"


def test_parse_pool_names_every_bad_cidr_and_the_name_at_once() -> None:
    with pytest.raises(InvalidInput) as refused:
        external.parse_pool("-bad", ["203.0.113.1/28", "nonsense", "2001:db8::/64"])
    assert _fields(refused) == ["cidrs[0]", "cidrs[1]", "name"]
    text = str(refused.value)
    assert "'203.0.113.1/28' has host bits set (the network is 203.0.113.0/28)" in text
    assert "'nonsense' is not a CIDR" in text


def test_parse_pool_refuses_overlaps_within_the_pool_and_an_empty_pool() -> None:
    with pytest.raises(InvalidInput) as refused:
        external.parse_pool("public", ["203.0.113.0/24", "198.51.100.0/24", "203.0.113.16/28"])
    assert _fields(refused) == ["cidrs[2]"]
    assert "overlaps 203.0.113.0/24, cidrs[0] of the same pool" in str(refused.value)
    with pytest.raises(InvalidInput) as empty:
        external.parse_pool("public", [])
    assert _fields(empty) == ["cidrs"]
    with pytest.raises(InvalidInput) as group:
        external.parse_pool("public", ["203.0.113.0/24"], "")
    assert _fields(group) == ["group"]
    # Two families never overlap, and one pool may hold both.
    mixed = external.parse_pool("public", ["203.0.113.0/24", "2001:db8:e::/64"])
    assert [c.version for c in mixed.cidrs] == [4, 6]


def test_check_pool_names_the_network_and_the_pool_a_cidr_overlaps() -> None:
    other = _pool("198.51.100.0/24", name="other")
    pool = _pool("10.9.0.0/16", "198.51.100.128/25", "fd00:10:0:1::/64", "203.0.113.0/24")
    with pytest.raises(InvalidInput) as refused:
        external.check_pool(pool, NETWORKS, [other])
    assert _fields(refused) == ["cidrs[0]", "cidrs[1]", "cidrs[2]"]
    text = str(refused.value)
    assert "10.9.0.0/16 overlaps romana network 'pods' (10.0.0.0/8)" in text
    assert "198.51.100.128/25 overlaps 198.51.100.0/24 of external pool 'other'" in text
    assert "fd00:10:0:1::/64 overlaps romana network 'pods6'" in text
    # A pool never overlaps itself as stored: checking it again beside itself is clean.
    external.check_pool(other, NETWORKS, [other])


def test_parse_nat_checks_mode_tenants_and_no_nat_at_once() -> None:
    with pytest.raises(InvalidInput) as refused:
        external.parse_nat("pods", "sometimes", ["a", "-b"], ["10.0.0.1/8"])
    assert _fields(refused) == ["no_nat[0]", "mode", "tenants[1]"]
    with pytest.raises(InvalidInput) as none:
        external.parse_nat("pods", "tenants")
    assert _fields(none) == ["tenants"]
    assert "needs at least one tenant" in str(none.value)
    with pytest.raises(InvalidInput) as extra:
        external.parse_nat("pods", "off", ["a"])
    assert _fields(extra) == ["tenants"]
    with pytest.raises(InvalidInput) as twice:
        external.parse_nat("pods", "tenants", ["a", "b", "a"])
    assert _fields(twice) == ["tenants[2]"]
    with pytest.raises(InvalidInput) as network:
        external.parse_nat("Pods", "on")
    assert _fields(network) == ["network"]
    setting = external.parse_nat("pods", "tenants", ["a"], ["192.168.0.0/16", "fd99::/16"])
    assert setting.mode is NatMode.TENANTS and [str(c) for c in setting.no_nat] == [
        "192.168.0.0/16",
        "fd99::/16",
    ]
    external.check_nat(setting)


def test_pick_address_skips_ipv4_network_and_broadcast_addresses() -> None:
    pool = _pool("203.0.113.8/30", "203.0.113.0/30")
    a = ipaddress.ip_address
    assert externaladdress.pick_address(pool, 4, []) == a("203.0.113.1")  # lowest CIDR first
    assert externaladdress.pick_address(pool, 4, [a("203.0.113.1")]) == a("203.0.113.2")
    used = [a("203.0.113.1"), a("203.0.113.2")]
    assert externaladdress.pick_address(pool, 4, used) == a("203.0.113.9")
    used += [a("203.0.113.9"), a("203.0.113.10")]
    assert externaladdress.pick_address(pool, 4, used) is None
    assert externaladdress.pick_address(pool, 6, []) is None  # no IPv6 CIDR


def test_pick_address_uses_every_address_of_a_31_and_a_32() -> None:
    a = ipaddress.ip_address
    pool = _pool("198.51.100.0/31", "198.51.100.9/32")
    assert externaladdress.pick_address(pool, 4, []) == a("198.51.100.0")
    assert externaladdress.pick_address(pool, 4, [a("198.51.100.0")]) == a("198.51.100.1")
    full = [a("198.51.100.0"), a("198.51.100.1")]
    assert externaladdress.pick_address(pool, 4, full) == a("198.51.100.9")
    assert externaladdress.pick_address(pool, 4, [*full, a("198.51.100.9")]) is None


def test_pick_address_skips_the_ipv6_subnet_router_anycast_address() -> None:
    a = ipaddress.ip_address
    pool = _pool("2001:db8:e::/126", "203.0.113.0/24")
    assert externaladdress.pick_address(pool, 6, []) == a("2001:db8:e::1")
    used = [a("2001:db8:e::1"), a("2001:db8:e::2")]
    assert externaladdress.pick_address(pool, 6, used) == a("2001:db8:e::3")  # no broadcast in IPv6
    assert externaladdress.pick_address(pool, 6, [*used, a("2001:db8:e::3")]) is None
    # Addresses of the other family in ``used`` change nothing.
    assert externaladdress.pick_address(pool, 6, [a("203.0.113.1")]) == a("2001:db8:e::1")
    point = _pool("2001:db8:f::/127", "2001:db8:f::10/128")
    assert externaladdress.pick_address(point, 6, []) == a("2001:db8:f::")
    taken = [a("2001:db8:f::"), a("2001:db8:f::1")]
    assert externaladdress.pick_address(point, 6, taken) == a("2001:db8:f::10")


def test_pick_address_on_a_wide_ipv6_pool_costs_what_is_used() -> None:
    pool = _pool("2001:db8::/32")
    used = [ipaddress.ip_address(f"2001:db8::{i:x}") for i in range(1, 2001)]
    assert externaladdress.pick_address(pool, 6, used) == ipaddress.ip_address("2001:db8::7d1")


@pytest.mark.parametrize(
    ("cidr", "address", "ok"),
    [
        ("203.0.113.0/24", "203.0.113.0", False),
        ("203.0.113.0/24", "203.0.113.255", False),
        ("203.0.113.0/24", "203.0.113.1", True),
        ("203.0.113.0/31", "203.0.113.0", True),
        ("2001:db8::/64", "2001:db8::", False),
        ("2001:db8::/64", "2001:db8::ffff:ffff:ffff:ffff", True),
        ("2001:db8::/127", "2001:db8::", True),
        ("203.0.113.0/24", "2001:db8::1", False),
    ],
)
def test_usable_is_the_one_rule_of_assignable_addresses(cidr: str, address: str, ok: bool) -> None:
    assert externaladdress.usable(_net(cidr), ipaddress.ip_address(address)) is ok


def test_assignment_checks_name_their_field() -> None:
    a = ipaddress.ip_address
    pool = _pool("203.0.113.0/29", "2001:db8:e::/125")
    v4_only = [a("10.0.17.1")]
    externaladdress.check_address(pool, a("203.0.113.6"), "k", v4_only)
    for address, says in (
        ("198.51.100.1", "in no CIDR of external pool 'public' (203.0.113.0/29, 2001:db8:e::/125)"),
        ("203.0.113.7", "the network or broadcast address of 203.0.113.0/29, never assigned"),
        ("2001:db8:e::1", "endpoint 'k' has no romana IPv6 address (it has 10.0.17.1)"),
    ):
        with pytest.raises(InvalidInput) as refused:
            externaladdress.check_address(pool, a(address), "k", v4_only)
        assert _fields(refused) == ["address"] and says in str(refused.value)
    assert externaladdress.family_for(pool, "k", [a("fd00::1"), a("10.0.17.1")]) == 4
    assert (
        externaladdress.family_for(_pool("2001:db8:e::/125"), "k", [a("fd00::1"), a("10.0.17.1")])
        == 6
    )
    with pytest.raises(InvalidInput) as none:
        externaladdress.family_for(_pool("2001:db8:e::/125"), "k", v4_only)
    assert _fields(none) == ["pool"]
    held = [a("203.0.113.1")]
    externaladdress.check_one_per_family("k", a("203.0.113.1"), held, 4)
    externaladdress.check_one_per_family("k", None, held, 6)
    with pytest.raises(InvalidInput, match=r"holds external IPv4 address 203\.0\.113\.1 already"):
        externaladdress.check_one_per_family("k", a("203.0.113.2"), held, 4)


def test_a_vips_reservation_round_trips_and_an_assignment_reads_as_before() -> None:
    address = ipaddress.ip_address("203.0.113.9")
    reserved = ExternalIp(address, "public", AllocationKey(""), TenantName(""), vip="web")
    assert reserved.to_dict() == {"address": "203.0.113.9", "pool": "public", "key": "",
                                  "tenant": "", "vip": "web"}  # fmt: skip
    assert ExternalIp.from_dict(reserved.to_dict()) == reserved
    # A record written before VIPs existed has no "vip": an endpoint's assignment.
    old = {"address": "203.0.113.9", "pool": "public", "key": "c1:eth0", "tenant": "t"}
    assert ExternalIp.from_dict(old).vip is None
    assert ExternalIp.from_dict(old).to_dict() == old
