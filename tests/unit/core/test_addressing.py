"""The address plan: worked examples, validation, and properties over random layouts."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from romana.core import addressing
from romana.core.errors import InvalidInput

EXAMPLE = addressing.layout("net", "10.0.0.0/8", 4, 4, 8)


def test_design_example() -> None:
    # DESIGN.md §2: 10.0.0.0/8, topology 8, tenant 4, segment 4, endpoint 8.
    assert EXAMPLE.topology_bits == 8
    assert str(addressing.host_prefix(EXAMPLE, 1)) == "10.1.0.0/16"
    assert str(addressing.gateway(EXAMPLE, 1)) == "10.1.0.1"
    assert str(addressing.encode(EXAMPLE, 1, 1, 1, 1)) == "10.1.17.1"
    d = addressing.decode(EXAMPLE, "10.1.17.1")
    assert (d.network, d.host, d.tenant, d.segment, d.ordinal) == ("net", 1, 1, 1, 1)
    assert str(d.host_prefix) == "10.1.0.0/16"
    assert addressing.decode(EXAMPLE, "10.1.0.1").is_gateway
    assert EXAMPLE.max_tenant == 15
    assert EXAMPLE.max_ordinal == 254


def test_tenant_mask_is_the_non_contiguous_mask_iptables_accepts() -> None:
    m = addressing.tenant_match(EXAMPLE, 1)
    assert (str(m.value_address), str(m.mask_address)) == ("10.0.16.0", "255.0.240.0")
    assert not m.is_prefix
    s = addressing.segment_match(EXAMPLE, 1, 1)
    assert (str(s.value_address), str(s.mask_address)) == ("10.0.17.0", "255.0.255.0")
    assert m.matches(ipaddress.IPv4Address("10.200.31.9"))
    assert not m.matches(ipaddress.IPv4Address("10.200.32.9"))


def test_network_match_is_a_prefix() -> None:
    m = addressing.network_match(EXAMPLE)
    assert m.is_prefix and str(m.as_network()) == "10.0.0.0/8"


def test_ipv6_example() -> None:
    lay = addressing.layout("v6", "fd00:10::/64")
    assert (lay.tenant_bits, lay.segment_bits, lay.endpoint_bits) == (16, 16, 16)
    assert lay.topology_bits == 16
    assert str(addressing.encode(lay, 2, 3, 4, 5)) == "fd00:10::2:3:4:5"
    assert str(addressing.gateway(lay, 2)) == "fd00:10::2:0:0:1"


@pytest.mark.parametrize(
    ("args", "kwargs", "fields"),
    [
        (("n", "10.0.0.0/24", 8, 8, 8), {}, ["n"]),
        (("n", "10.0.0.0/16", 0, 4, 8), {"tenants_configured": True}, ["n.tenant_bits"]),
        (("", "10.0.0.1/8", 4, 4, 8), {}, ["n.name", "n.cidr"]),
        (("n", "10.0.0.0/8", -1, 4, 1), {}, ["n.tenant_bits", "n.endpoint_bits"]),
        (("n", "10.0.0.0/8", 4, 4, 1), {}, ["n.endpoint_bits"]),
        (("n", "nonsense", 4, 4, 8), {}, ["n.cidr"]),
    ],
)
def test_bad_layouts_name_every_field(args: tuple, kwargs: dict, fields: list[str]) -> None:
    with pytest.raises(InvalidInput) as exc:
        addressing.layout(*args, field="n", **kwargs)
    assert [i.field for i in exc.value.issues] == fields


def test_out_of_range_fields_are_refused() -> None:
    with pytest.raises(InvalidInput, match=r"tenant id 16 is outside 0\.\.15"):
        addressing.encode(EXAMPLE, 0, 16, 0, 1)
    with pytest.raises(InvalidInput, match="not in network"):
        addressing.decode(EXAMPLE, "11.0.0.1")


@st.composite
def layouts_and_tuples(draw: st.DrawFn) -> tuple[addressing.Layout, tuple[int, int, int, int]]:
    version = draw(st.sampled_from([4, 6]))
    bits = 32 if version == 4 else 128
    prefixlen = draw(st.integers(0, bits - 4))
    free = bits - prefixlen
    endpoint = draw(st.integers(2, min(free, 24)))
    tenant = draw(st.integers(0, min(free - endpoint, 20)))
    segment = draw(st.integers(0, min(free - endpoint - tenant, 20)))
    base = draw(st.integers(0, (1 << bits) - 1)) >> free << free
    cidr = (
        ipaddress.ip_network((base, prefixlen))
        if version == 4
        else ipaddress.IPv6Network((base, prefixlen))
    )
    lay = addressing.layout("n", str(cidr), tenant, segment, endpoint)
    host = draw(st.integers(0, lay.max_hosts - 1))
    t = draw(st.integers(0, lay.max_tenant))
    s = draw(st.integers(0, lay.max_segment))
    o = draw(st.integers(0, (1 << endpoint) - 1))
    return lay, (host, t, s, o)


@settings(max_examples=300)
@given(layouts_and_tuples())
def test_decode_inverts_encode(case: tuple[addressing.Layout, tuple[int, int, int, int]]) -> None:
    lay, (h, t, s, o) = case
    addr = addressing.encode(lay, h, t, s, o)
    assert addr in lay.cidr
    assert addr in addressing.host_prefix(lay, h)
    d = addressing.decode(lay, addr)
    assert (d.host, d.tenant, d.segment, d.ordinal) == (h, t, s, o)


@settings(max_examples=300)
@given(layouts_and_tuples(), st.data())
def test_tenant_mask_matches_exactly_that_tenant(
    case: tuple[addressing.Layout, tuple[int, int, int, int]], data: st.DataObject
) -> None:
    lay, (h, t, s, o) = case
    addr = addressing.encode(lay, h, t, s, o)
    other = data.draw(st.integers(0, lay.max_tenant))
    assert addressing.tenant_match(lay, other).matches(addr) == (other == t)
    seg = data.draw(st.integers(0, lay.max_segment))
    assert addressing.segment_match(lay, other, seg).matches(addr) == (other == t and seg == s)
    # An address outside the network never matches, whatever its low bits are.
    if lay.cidr.prefixlen > 0:
        outside = int(addr) ^ (1 << (lay.address_bits - lay.cidr.prefixlen))
        outside_addr = (
            ipaddress.ip_address(outside) if lay.version == 4 else ipaddress.IPv6Address(outside)
        )
        assert not addressing.tenant_match(lay, t).matches(outside_addr)
