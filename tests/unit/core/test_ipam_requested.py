"""A requested address: it must encode exactly the slot asked for, with an ordinal handed out."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from romana.core import addressing, ipam
from romana.core.errors import InvalidInput
from romana.core.identifiers import NetworkName

NET = NetworkName("net")

LAY = addressing.layout("net", "10.0.0.0/8", 4, 4, 4)
"""Host h owns 10.0.16h.0/20; (h, tenant t, segment s, ordinal o) is 10.0.(16h+t).(16s+o)."""

WANTED = ipam.Wanted(
    ipam.Slot(NET, 1, 1, 0), "h1", "web", {"default": 0, "db": 1}, "default", {1: "h1", 2: "h2"}
)


def refusal(address: str, blackouts: tuple[addressing.IPNetwork, ...] = ()) -> str:
    with pytest.raises(InvalidInput) as refused:
        ipam.requested_ordinal(LAY, WANTED, ipaddress.ip_address(address), blackouts)
    (issue,) = refused.value.issues
    assert issue.field == "address"
    return str(refused.value)


@given(st.integers(1, LAY.max_ordinal))
def test_an_address_of_the_slot_is_its_ordinal(ordinal: int) -> None:
    address = addressing.encode(LAY, 1, 1, 0, ordinal)
    assert ipam.requested_ordinal(LAY, WANTED, address) == ordinal


def test_another_host_is_named_when_a_host_holds_its_index() -> None:
    assert refusal("10.0.33.5") == (
        "address: 10.0.33.5 encodes host 'h2' (10.0.32.0/20), not host 'h1' (10.0.16.0/20)"
    )
    assert refusal("10.0.49.5") == (
        "address: 10.0.49.5 encodes host index 3 (10.0.48.0/20, no host's), not host 'h1' "
        "(10.0.16.0/20)"
    )


def test_the_gateway_is_never_allocated() -> None:
    assert refusal("10.0.16.1") == (
        "address: 10.0.16.1 is the gateway of host 'h1'; a gateway is never allocated"
    )


def test_another_tenant_or_segment_is_refused_naming_both() -> None:
    assert refusal("10.0.18.5") == (
        "address: 10.0.18.5 encodes tenant id 2, not tenant 'web' (id 1 in network 'net')"
    )
    assert refusal("10.0.17.21") == (
        "address: 10.0.17.21 encodes segment 'db' (id 1), not segment 'default' (id 0) of "
        "tenant 'web'"
    )
    assert "encodes segment id 2, not segment 'default'" in refusal("10.0.17.37")


def test_reserved_ordinals_and_blackouts_are_refused() -> None:
    for address, ordinal in (("10.0.17.0", 0), ("10.0.17.15", 15)):
        assert refusal(address) == (
            f"address: {address} is reserved: endpoint ordinal {ordinal} is never handed out "
            "(only 1..14 are)"
        )
    blackouts = ipam.parse_blackouts(LAY, ["10.0.17.4/30"])
    assert refusal("10.0.17.5", blackouts) == (
        "address: 10.0.17.5 is inside blackout 10.0.17.4/30 of network 'net'"
    )
    assert ipam.requested_ordinal(LAY, WANTED, ipaddress.ip_address("10.0.17.8"), blackouts) == 8


def test_the_infrastructure_tenant_starts_after_the_gateway() -> None:
    infra = ipam.Wanted(ipam.Slot(NET, 1, 0, 0), "h1", "infra", {"default": 0}, "default")
    assert ipam.requested_ordinal(LAY, infra, ipaddress.ip_address("10.0.16.2")) == 2
