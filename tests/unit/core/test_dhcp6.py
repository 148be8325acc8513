"""DHCPv6 messages and the one-address answers of a tap's server (pure)."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from romana.core import dhcp6
from romana.core.dhcp6 import IaAddress, IaNa, Message

ip6 = ipaddress.IPv6Address
MAC = bytes.fromhex("fa163e000001")
SERVER = dhcp6.duid_ll(bytes.fromhex("fe54000000aa"))
CLIENT = dhcp6.duid_ll(MAC)
MINE = ip6("fd00:10::1:5")
OTHER = ip6("fd00:10::9:9")
BINDING = dhcp6.Binding(MINE, SERVER, 3600)
XID = 0xABCDEF


def ask(kind: int, *ias: IaNa, server: bytes | None = None, **extra: bytes) -> Message:
    options: list[tuple[int, bytes]] = [(dhcp6.OPT_CLIENTID, CLIENT)]
    if server is not None:
        options.append((dhcp6.OPT_SERVERID, server))
    options += [(int(code[1:]), value) for code, value in extra.items()]
    options += [(dhcp6.OPT_IA_NA, ia.encode()) for ia in ias]
    return Message(kind, XID, tuple(options))


def hint(*addresses: ipaddress.IPv6Address, iaid: int = 7) -> IaNa:
    return IaNa(iaid, 0, 0, tuple(IaAddress(a, 0, 0) for a in addresses))


def granted(reply: Message | None, kind: int = dhcp6.REPLY) -> IaNa:
    assert reply is not None and reply.msg_type == kind and reply.xid == XID
    assert reply.option(dhcp6.OPT_SERVERID) == SERVER
    assert reply.option(dhcp6.OPT_CLIENTID) == CLIENT
    (ia,) = reply.ia_nas()
    return ia


def status(reply: Message | None) -> int:
    assert reply is not None
    raw = reply.option(dhcp6.OPT_STATUS_CODE)
    assert raw is not None
    return int.from_bytes(raw[:2], "big")


def test_a_message_survives_encode_and_decode() -> None:
    sent = ask(dhcp6.REQUEST, hint(MINE), server=SERVER, o8=b"\x00\x00", o6=b"\x00\x17")
    wire = dhcp6.encode(sent)
    assert wire[:4] == bytes((dhcp6.REQUEST, 0xAB, 0xCD, 0xEF))
    assert dhcp6.decode(wire) == sent
    assert sent.ia_nas() == (hint(MINE),)


def test_an_ia_na_with_addresses_and_status_survives_encode_and_decode() -> None:
    ia = IaNa(1, 1800, 2880, (IaAddress(MINE, 3600, 3600), IaAddress(OTHER, 0, 0)), 0)
    assert IaNa.decode(ia.encode()) == ia


@given(st.binary(max_size=64))
def test_decode_reads_or_refuses_any_bytes(data: bytes) -> None:
    try:
        message = dhcp6.decode(data)
    except dhcp6.Malformed:
        return
    assert dhcp6.encode(message) == data


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x01\x00\x00", "shorter than a DHCPv6 message"),
        (b"\x01\x00\x00\x01\x00\x01\x00", "runs past the end"),
        (b"\x01\x00\x00\x01\x00\x01\x00\x05abc", "runs past the end"),
        (b"\x0c" + bytes(33), "relay"),
    ],
)
def test_what_is_not_a_message_is_refused(data: bytes, why: str) -> None:
    with pytest.raises(dhcp6.Malformed, match=why):
        dhcp6.decode(data)


def test_a_short_ia_na_or_ia_address_is_refused() -> None:
    with pytest.raises(dhcp6.Malformed, match="shorter than 12"):
        Message(dhcp6.SOLICIT, 1, ((dhcp6.OPT_IA_NA, b"\x00" * 11),)).ia_nas()
    short_address = struct.pack("!III", 1, 0, 0) + struct.pack("!HH", 5, 4) + b"abcd"
    with pytest.raises(dhcp6.Malformed, match="shorter than 24"):
        IaNa.decode(short_address)


def test_solicit_gets_an_advertise_of_the_one_address_whatever_the_hint() -> None:
    for ia in (IaNa(7), hint(OTHER)):
        reply = dhcp6.answer(ask(dhcp6.SOLICIT, ia), BINDING)
        got = granted(reply, dhcp6.ADVERTISE)
        assert got.iaid == 7 and (got.t1, got.t2) == (1800, 2880)
        assert got.addresses[0] == IaAddress(MINE, 3600, 3600)
        assert reply is not None and reply.option(dhcp6.OPT_PREFERENCE) == b"\xff"


def test_solicit_with_rapid_commit_gets_the_reply_at_once() -> None:
    reply = dhcp6.answer(ask(dhcp6.SOLICIT, IaNa(3), o14=b""), BINDING)
    assert granted(reply).addresses == (IaAddress(MINE, 3600, 3600),)
    assert reply is not None and reply.option(dhcp6.OPT_RAPID_COMMIT) == b""


@pytest.mark.parametrize("kind", [dhcp6.REQUEST, dhcp6.RENEW])
def test_request_and_renew_of_the_address_are_replied(kind: int) -> None:
    got = granted(dhcp6.answer(ask(kind, hint(MINE), server=SERVER), BINDING))
    assert got.addresses == (IaAddress(MINE, 3600, 3600),)
    assert got.status is None


def test_rebind_names_no_server_and_is_replied() -> None:
    got = granted(dhcp6.answer(ask(dhcp6.REBIND, hint(MINE)), BINDING))
    assert got.addresses == (IaAddress(MINE, 3600, 3600),)


def test_another_address_beside_the_binding_is_withdrawn() -> None:
    got = granted(dhcp6.answer(ask(dhcp6.RENEW, hint(MINE, OTHER), server=SERVER), BINDING))
    assert got.addresses == (IaAddress(MINE, 3600, 3600), IaAddress(OTHER, 0, 0))


@pytest.mark.parametrize(
    ("kind", "want"),
    [(dhcp6.REQUEST, dhcp6.NOT_ON_LINK), (dhcp6.RENEW, dhcp6.NO_BINDING)],
)
def test_another_address_alone_gets_a_status(kind: int, want: int) -> None:
    got = granted(dhcp6.answer(ask(kind, hint(OTHER), server=SERVER), BINDING))
    assert got.status == want and got.addresses == ()


def test_rebind_of_another_address_gets_it_back_with_lifetimes_0() -> None:
    got = granted(dhcp6.answer(ask(dhcp6.REBIND, hint(OTHER)), BINDING))
    assert got.addresses == (IaAddress(OTHER, 0, 0),)


@pytest.mark.parametrize("kind", [dhcp6.SOLICIT, dhcp6.REQUEST, dhcp6.RENEW, dhcp6.REBIND])
def test_no_ia_na_gets_no_addrs_avail(kind: int) -> None:
    server = SERVER if kind in (dhcp6.REQUEST, dhcp6.RENEW) else None
    reply = dhcp6.answer(ask(kind, server=server), BINDING)
    assert reply is not None and reply.ia_nas() == ()
    assert status(reply) == dhcp6.NO_ADDRS_AVAIL


@pytest.mark.parametrize(
    ("addresses", "want"),
    [((MINE,), dhcp6.SUCCESS), ((MINE, OTHER), dhcp6.NOT_ON_LINK), ((OTHER,), dhcp6.NOT_ON_LINK)],
)
def test_confirm_says_whether_the_addresses_are_on_link(
    addresses: tuple[ipaddress.IPv6Address, ...], want: int
) -> None:
    reply = dhcp6.answer(ask(dhcp6.CONFIRM, hint(*addresses)), BINDING)
    assert reply is not None and reply.msg_type == dhcp6.REPLY
    assert status(reply) == want


def test_confirm_of_no_address_gets_nothing() -> None:
    assert dhcp6.answer(ask(dhcp6.CONFIRM, IaNa(1)), BINDING) is None


@pytest.mark.parametrize("kind", [dhcp6.RELEASE, dhcp6.DECLINE])
def test_release_and_decline_are_answered_with_success(kind: int) -> None:
    reply = dhcp6.answer(ask(kind, hint(MINE), server=SERVER), BINDING)
    assert reply is not None and reply.msg_type == dhcp6.REPLY
    assert reply.option(dhcp6.OPT_SERVERID) == SERVER and status(reply) == dhcp6.SUCCESS


@pytest.mark.parametrize(
    "message",
    [
        Message(dhcp6.SOLICIT, XID, ((dhcp6.OPT_IA_NA, IaNa(1).encode()),)),  # no client id
        ask(dhcp6.SOLICIT, IaNa(1), server=SERVER),  # a solicit names no server
        ask(dhcp6.REBIND, IaNa(1), server=SERVER),
        ask(dhcp6.CONFIRM, hint(MINE), server=SERVER),
        ask(dhcp6.REQUEST, hint(MINE)),  # no server
        ask(dhcp6.REQUEST, hint(MINE), server=b"\x00\x03\x00\x01abcdef"),  # another server
        ask(dhcp6.RENEW, hint(MINE), server=b"\x00\x03\x00\x01abcdef"),
        ask(dhcp6.RELEASE, hint(MINE)),
        ask(dhcp6.DECLINE, hint(MINE), server=b"\x00\x03\x00\x01abcdef"),
        ask(dhcp6.INFORMATION_REQUEST),
        ask(dhcp6.ADVERTISE, IaNa(1)),
        ask(dhcp6.REPLY, IaNa(1)),
        ask(dhcp6.RECONFIGURE),
    ],
)
def test_other_messages_get_nothing(message: Message) -> None:
    assert dhcp6.answer(message, BINDING) is None


def test_the_server_id_is_a_duid_ll_of_the_mac() -> None:
    assert dhcp6.duid_ll(MAC) == b"\x00\x03\x00\x01" + MAC
