"""Router advertisements and solicitations (pure)."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from romana.core import routeradvert
from romana.core.routeradvert import Advertisement

MAC = bytes.fromhex("fe54000000aa")


def test_an_advertisement_survives_encode_and_decode() -> None:
    ad = Advertisement(1800, 1450, MAC)
    wire = routeradvert.encode(ad)
    assert wire[0] == routeradvert.ROUTER_ADVERTISEMENT and wire[2:4] == b"\0\0"
    assert wire[5] == routeradvert.MANAGED  # managed, not other
    assert struct.unpack_from("!H", wire, 6)[0] == 1800
    assert len(wire) == 16 + 8 + 8
    assert routeradvert.decode(wire) == ad


def test_an_advertisement_carries_no_prefix_and_what_is_unknown_is_left_out() -> None:
    ad = Advertisement(0, managed=False)
    wire = routeradvert.encode(ad)
    assert len(wire) == 16 and wire[5] == 0
    assert routeradvert.decode(wire) == ad
    assert routeradvert.decode(routeradvert.encode(Advertisement(1800, 1500, MAC))).prefixes == 0


def test_decode_counts_prefix_options() -> None:
    prefix = bytes((routeradvert.OPT_PREFIX, 4)) + bytes(30)
    wire = routeradvert.encode(Advertisement(1800)) + prefix
    assert routeradvert.decode(wire).prefixes == 1


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes((133, 0)) + bytes(14),  # a solicitation
        routeradvert.encode(Advertisement(1800)) + b"\x05\x00",  # option length 0
        routeradvert.encode(Advertisement(1800)) + b"\x05\x02" + bytes(6),  # past the end
    ],
)
def test_what_is_not_an_advertisement_is_refused(data: bytes) -> None:
    with pytest.raises(routeradvert.Malformed):
        routeradvert.decode(data)


@given(st.binary(max_size=48))
def test_decode_reads_or_refuses_any_bytes(data: bytes) -> None:
    with contextlib.suppress(routeradvert.Malformed):
        routeradvert.decode(data)


def test_a_solicitation_is_recognised() -> None:
    assert routeradvert.is_solicitation(bytes((133, 0, 0xAB, 0xCD, 0, 0, 0, 0)))
    assert not routeradvert.is_solicitation(bytes((133, 0, 0, 0)))
    assert not routeradvert.is_solicitation(routeradvert.encode(Advertisement(1800)))
