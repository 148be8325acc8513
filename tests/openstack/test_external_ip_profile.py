"""A port's ``binding:profile`` key ``romana_external_ip``: what it asks for, and the calls to
romanad that make the port's allocation hold it (a fake client standing in for romanad's
external IP routes; no Neutron needed)."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from romana.core import errors
from romana.integrations.openstack import external_ips
from romana.integrations.openstack.external_ips import Wanted

KEY = "1c4c2d6e-7b0a-4d1e-9f3a-5b6c7d8e9f00:tap1c4c2d6e-7b"
POOLS = {"internet": ("203.0.113.0/29", "2001:db8:200::/125"), "rack1": ("198.51.100.0/30",)}


@pytest.mark.parametrize(
    ("profile", "wanted"),
    [
        (None, None),
        ({}, None),
        ({"other": "x"}, None),
        ({"romana_external_ip": None}, None),
        ({"romana_external_ip": "internet"}, Wanted("internet")),
        ({"romana_external_ip": "internet/203.0.113.5"}, Wanted("internet", "203.0.113.5")),
        # An IPv6 address is written as Python writes it, so it compares with romanad's.
        (
            {"romana_external_ip": "internet/2001:DB8:200:0::5"},
            Wanted("internet", "2001:db8:200::5"),
        ),
    ],
)
def test_a_profile_asks_for_a_pool_and_maybe_an_address(
    profile: dict[str, Any] | None, wanted: Wanted | None
) -> None:
    assert external_ips.parse(profile) == wanted


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("", 'must be a text "POOL" or "POOL/ADDRESS", not \'\''),
        (7, 'must be a text "POOL" or "POOL/ADDRESS", not 7'),
        (["internet"], "not ['internet']"),
        ("Internet!", "the pool 'Internet!'"),
        ("/203.0.113.5", "the pool ''"),
        ("internet/", "'' after the pool is not an IP address"),
        ("internet/203.0.113.0/29", "'203.0.113.0/29' after the pool is not an IP address"),
        ("internet/somewhere", "'somewhere' after the pool is not an IP address"),
    ],
)
def test_a_bad_value_names_the_key_and_the_rule(value: object, rule: str) -> None:
    with pytest.raises(errors.InvalidInput) as caught:
        external_ips.parse({"romana_external_ip": value})
    [issue] = caught.value.issues
    assert issue.field == "binding:profile.romana_external_ip"
    assert rule in issue.rule


class FakeRomanad:
    """romanad's external IPs as an ``openstack`` user meets them: one per family per
    allocation, the pool's lowest free address (IPv4 first) unless one is named, refusals as
    romanad raises them; every call recorded."""

    def __init__(self) -> None:
        self.assigned: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, ...]] = []

    def list_external_ips(self, pool: str | None = None, key: str | None = None) -> Any:
        self.calls.append(("list", str(key)))
        return [dict(ip) for ip in self.assigned.values() if key in (None, ip["key"])]

    def assign_external_ip(self, pool: str, endpoint: str, address: str | None = None) -> Any:
        self.calls.append(("assign", pool, endpoint, str(address)))
        if pool not in POOLS:
            raise errors.NotFound(f"external pool {pool!r} does not exist")
        if address is None:
            held = [ip for ip in self.assigned.values() if ip["key"] == endpoint]
            mine = [ip for ip in held if ip["pool"] == pool and ":" not in ip["address"]]
            if mine:
                return mine[0]
            cidr = ipaddress.ip_network(POOLS[pool][0])
            address = str(next(a for a in cidr.hosts() if str(a) not in self.assigned))
        taken = self.assigned.get(address)
        if taken is not None and taken["key"] != endpoint:
            raise errors.AlreadyExists(f"external IP {address} is assigned already")
        family = ipaddress.ip_address(address).version
        for ip in self.assigned.values():
            same = ipaddress.ip_address(ip["address"]).version == family
            if ip["key"] == endpoint and same and ip["address"] != address:
                raise errors.InvalidInput(f"endpoint {endpoint!r} holds {ip['address']} already")
        ip = {"address": address, "pool": pool, "key": endpoint, "tenant": "os-p", "vip": None}
        self.assigned[address] = ip
        return ip

    def unassign_external_ip(self, address: str) -> Any:
        self.calls.append(("unassign", address))
        if address not in self.assigned:
            raise errors.NotFound(f"external IP {address} is not assigned")
        return self.assigned.pop(address)


def held(romanad: FakeRomanad) -> set[tuple[str, str]]:
    return {(ip["pool"], ip["address"]) for ip in romanad.assigned.values()}


def test_a_pool_gets_its_lowest_free_address_once() -> None:
    romanad = FakeRomanad()
    external_ips.sync(romanad, KEY, Wanted("internet"), None)
    assert held(romanad) == {("internet", "203.0.113.1")}
    # A rebinding or a retry asks again and gets what the port holds.
    external_ips.sync(romanad, KEY, Wanted("internet"), Wanted("internet"))
    assert held(romanad) == {("internet", "203.0.113.1")}
    assert romanad.calls[-1] == ("assign", "internet", KEY, "None")


def test_changing_the_address_or_the_pool_unassigns_the_old_one_first() -> None:
    romanad = FakeRomanad()
    external_ips.sync(romanad, KEY, Wanted("internet"), None)
    external_ips.sync(romanad, KEY, Wanted("internet", "203.0.113.5"), Wanted("internet"))
    assert held(romanad) == {("internet", "203.0.113.5")}
    romanad.calls.clear()
    external_ips.sync(romanad, KEY, Wanted("rack1"), Wanted("internet", "203.0.113.5"))
    assert held(romanad) == {("rack1", "198.51.100.1")}
    assert romanad.calls == [
        ("list", KEY),
        ("unassign", "203.0.113.5"),
        ("assign", "rack1", KEY, "None"),
    ]


def test_removing_the_key_unassigns_only_what_the_profile_named() -> None:
    romanad = FakeRomanad()
    external_ips.sync(romanad, KEY, Wanted("internet"), None)
    # An admin's assignment from another pool (IPv6) to the same allocation stays.
    admins = {"address": "2001:db8:300::3", "pool": "admins", "key": KEY, "tenant": "os-p"}
    romanad.assigned["2001:db8:300::3"] = admins
    external_ips.sync(romanad, KEY, None, Wanted("internet"))
    assert held(romanad) == {("admins", "2001:db8:300::3")}
    # Nothing named before or now: not even a listing.
    romanad.calls.clear()
    external_ips.sync(romanad, KEY, None, None)
    assert romanad.calls == []


def test_a_refused_change_leaves_the_old_external_ip_assigned() -> None:
    romanad = FakeRomanad()
    external_ips.sync(romanad, KEY, Wanted("internet", "203.0.113.2"), None)
    other = "ffffffff-7b0a-4d1e-9f3a-5b6c7d8e9f00:tapffffffff-7b"
    external_ips.sync(romanad, other, Wanted("internet", "203.0.113.4"), None)
    with pytest.raises(errors.AlreadyExists, match=r"203\.0\.113\.4 is assigned already"):
        external_ips.sync(
            romanad, KEY, Wanted("internet", "203.0.113.4"), Wanted("internet", "203.0.113.2")
        )
    with pytest.raises(errors.NotFound, match="external pool 'nowhere' does not exist"):
        external_ips.sync(romanad, KEY, Wanted("nowhere"), Wanted("internet", "203.0.113.2"))
    by_key = {ip["key"]: ip["address"] for ip in romanad.assigned.values()}
    assert by_key == {KEY: "203.0.113.2", other: "203.0.113.4"}


def test_an_external_ip_gone_meanwhile_is_no_error() -> None:
    romanad = FakeRomanad()
    external_ips.sync(romanad, KEY, Wanted("internet"), None)
    original = romanad.list_external_ips

    def listed_then_gone(pool: str | None = None, key: str | None = None) -> Any:
        found = original(pool, key)
        romanad.assigned.clear()  # someone unassigned it between the list and the delete
        return found

    romanad.list_external_ips = listed_then_gone  # type: ignore[method-assign]
    external_ips.sync(romanad, KEY, None, Wanted("internet"))
    assert held(romanad) == set()
