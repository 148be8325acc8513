"""Announcement frames carry what neighbours check before they switch an entry's MAC."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from romana.core.errors import InvalidInput
from romana.dataplane import announce

MAC = "02:aa:bb:cc:dd:01"
RAW_MAC = bytes.fromhex("02aabbccdd01")
VIP4 = ipaddress.IPv4Address("203.0.113.7")
VIP6 = ipaddress.IPv6Address("2001:db8:200::7")


def reference_sum(data: bytes) -> int:
    """The one's complement sum of 16-bit words, written out the long way."""
    total = 0
    for i in range(0, len(data), 2):
        word = data[i] << 8 | (data[i + 1] if i + 1 < len(data) else 0)
        total += word
        total = (total & 0xFFFF) + (total >> 16)
    return total


def test_the_internet_checksum_matches_the_rfc_1071_example() -> None:
    assert announce.checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D
    assert announce.checksum(b"\x01") == ~0x0100 & 0xFFFF  # an odd byte is padded


def test_gratuitous_arp_request_and_reply_name_the_vip_as_sender_and_target() -> None:
    request, reply = announce.arp_frames(VIP4, MAC)
    for frame, op, tha in ((request, 1, bytes(6)), (reply, 2, RAW_MAC)):
        assert len(frame) == 60  # padded to the shortest Ethernet frame
        assert frame[:6] == b"\xff" * 6  # broadcast
        assert frame[6:12] == RAW_MAC
        assert frame[12:14] == b"\x08\x06"
        htype, ptype, hlen, plen, found_op = struct.unpack("!HHBBH", frame[14:22])
        assert (htype, ptype, hlen, plen, found_op) == (1, 0x0800, 6, 4, op)
        assert frame[22:28] == RAW_MAC  # sender hardware address
        assert frame[28:32] == VIP4.packed  # sender IP
        assert frame[32:38] == tha  # a reply names the sender's MAC: Linux's gratuitous reply
        assert frame[38:42] == VIP4.packed  # target IP = sender IP: gratuitous
        assert frame[42:] == bytes(18)


def test_the_neighbour_advertisement_overrides_from_the_vip_to_all_nodes() -> None:
    frame = announce.neighbour_advertisement(VIP6, MAC)
    assert frame[:6] == bytes.fromhex("333300000001")  # ff02::1 on Ethernet
    assert frame[6:12] == RAW_MAC
    assert frame[12:14] == b"\x86\xdd"
    ip6, icmp = frame[14:54], frame[54:]
    first, length, next_header, hops = struct.unpack("!IHBB", ip6[:8])
    assert first >> 28 == 6
    assert (length, next_header, hops) == (len(icmp), 58, 255) == (32, 58, 255)
    source, destination = ip6[8:24], ip6[24:40]
    assert source == VIP6.packed
    assert destination == ipaddress.IPv6Address("ff02::1").packed

    kind, code, _, flags = struct.unpack("!BBHI", icmp[:8])
    assert (kind, code) == (136, 0)
    assert flags == 0x20000000  # Override; not Solicited (multicast), not Router
    assert icmp[8:24] == VIP6.packed  # target
    assert icmp[24:26] == b"\x02\x01"  # target link-layer address option, 8 bytes long
    assert icmp[26:32] == RAW_MAC

    # A receiver adds the pseudo-header to the message as sent: a valid checksum sums to
    # all ones (RFC 4443, 2.3).
    pseudo = source + destination + struct.pack("!I3xB", len(icmp), 58)
    assert reference_sum(pseudo + icmp) == 0xFFFF


def test_the_checksum_changes_with_the_vip() -> None:
    other = announce.neighbour_advertisement(VIP6 + 1, MAC)
    mine = announce.neighbour_advertisement(VIP6, MAC)
    assert other[56:58] != mine[56:58]


def test_frames_are_chosen_by_family() -> None:
    assert announce.frames(VIP4, MAC) == announce.arp_frames(VIP4, MAC)
    assert announce.frames(VIP6, MAC) == (announce.neighbour_advertisement(VIP6, MAC),)


@pytest.mark.parametrize("mac", ["", "02:aa:bb:cc:dd", "02:aa:bb:cc:dd:zz", "02aabbccdd01"])
def test_a_mac_that_is_not_ethernet_is_refused_by_name(mac: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        announce.frames(VIP4, mac)
    assert [issue.field for issue in raised.value.issues] == ["mac"]
