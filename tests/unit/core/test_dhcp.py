"""DHCPv4 messages and the one-lease answers of a tap's server (pure)."""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from romana.core import dhcp

ip4 = ipaddress.IPv4Address
MAC = bytes.fromhex("fa163e000001")
LEASE = dhcp.Lease(ip4("10.1.16.5"), 8, ip4("10.1.0.1"), 3600, 1450)


def request(kind: int, **options: bytes) -> dhcp.Message:
    opts = {dhcp.OPT_MESSAGE_TYPE: bytes((kind,))}
    opts.update({int(code[1:]): value for code, value in options.items()})
    return dhcp.Message(op=dhcp.BOOTREQUEST, xid=0x1234ABCD, chaddr=MAC, flags=0x8000, options=opts)


def test_a_message_survives_encode_and_decode() -> None:
    sent = request(dhcp.REQUEST, o50=ip4("10.1.16.5").packed, o12=b"vm-1")
    wire = dhcp.encode(sent)
    assert len(wire) == dhcp.BOOTP_MIN
    assert wire[236:240] == dhcp.MAGIC
    assert dhcp.decode(wire) == sent


def test_a_long_option_is_split_and_joined_again() -> None:
    sent = request(dhcp.DISCOVER, o43=bytes(range(256)) * 2)
    assert dhcp.decode(dhcp.encode(sent)).options[43] == bytes(range(256)) * 2


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x01" * 100, "shorter"),
        (bytes(236) + b"\x00\x00\x00\x00", "magic"),
        (bytes(236) + dhcp.MAGIC + bytes((53, 5, 1)), "past the end"),
    ],
)
def test_what_is_not_a_dhcp_message_is_refused(data: bytes, why: str) -> None:
    with pytest.raises(dhcp.Malformed, match=why):
        dhcp.decode(data)


@given(st.binary(max_size=600))
def test_decoding_any_bytes_either_works_or_is_malformed(data: bytes) -> None:
    with contextlib.suppress(dhcp.Malformed):
        dhcp.decode(data)


def test_discover_is_offered_the_lease_with_mask_router_and_times() -> None:
    offer = dhcp.answer(request(dhcp.DISCOVER), LEASE)
    assert offer is not None
    assert (offer.op, offer.xid, offer.chaddr, offer.flags) == (
        dhcp.BOOTREPLY,
        0x1234ABCD,
        MAC,
        0x8000,
    )
    assert offer.message_type == dhcp.OFFER
    assert offer.yiaddr == ip4("10.1.16.5")
    assert offer.address_option(dhcp.OPT_SUBNET_MASK) == ip4("255.0.0.0")
    assert offer.address_option(dhcp.OPT_ROUTER) == ip4("10.1.0.1")
    assert offer.address_option(dhcp.OPT_SERVER_ID) == ip4("10.1.0.1")
    assert struct.unpack("!I", offer.options[dhcp.OPT_LEASE_TIME]) == (3600,)
    assert struct.unpack("!I", offer.options[dhcp.OPT_RENEWAL_TIME]) == (1800,)
    assert struct.unpack("!I", offer.options[dhcp.OPT_REBINDING_TIME]) == (3150,)
    assert struct.unpack("!H", offer.options[dhcp.OPT_MTU]) == (1450,)


@pytest.mark.parametrize(
    "options",
    [
        {"o50": ip4("10.1.16.5").packed, "o54": ip4("10.1.0.1").packed},  # selecting
        {},  # renewing: ciaddr below
    ],
)
def test_a_request_for_the_lease_is_acked(options: dict[str, bytes]) -> None:
    asked = request(dhcp.REQUEST, **options)
    if not options:
        asked = dataclasses.replace(asked, ciaddr=ip4("10.1.16.5"))
    ack = dhcp.answer(asked, LEASE)
    assert ack is not None and ack.message_type == dhcp.ACK
    assert ack.yiaddr == ip4("10.1.16.5")


def test_a_request_for_another_address_is_naked_and_one_for_another_server_ignored() -> None:
    nak = dhcp.answer(request(dhcp.REQUEST, o50=ip4("10.1.16.9").packed), LEASE)
    assert nak is not None and nak.message_type == dhcp.NAK
    assert nak.yiaddr == dhcp.ZERO and dhcp.OPT_ROUTER not in nak.options
    other = request(dhcp.REQUEST, o50=ip4("10.1.16.5").packed, o54=ip4("10.9.0.1").packed)
    assert dhcp.answer(other, LEASE) is None


@pytest.mark.parametrize("kind", [dhcp.DECLINE, dhcp.RELEASE, dhcp.INFORM, dhcp.OFFER, 99])
def test_every_other_message_gets_no_answer(kind: int) -> None:
    assert dhcp.answer(request(kind), LEASE) is None


def test_a_bootreply_and_a_message_without_type_get_no_answer() -> None:
    reply = dhcp.Message(op=dhcp.BOOTREPLY, xid=1, chaddr=MAC, options={53: b"\x01"})
    assert dhcp.answer(reply, LEASE) is None
    assert dhcp.answer(dhcp.Message(op=dhcp.BOOTREQUEST, xid=1, chaddr=MAC), LEASE) is None
