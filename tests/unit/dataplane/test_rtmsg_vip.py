"""A VIP's address request carries its lifetime and replace semantics; the read-back parses."""

from __future__ import annotations

import ipaddress
import struct

from romana.dataplane import nlsock, rtmsg

VIP4 = ipaddress.ip_interface("203.0.113.7/32")
VIP6 = ipaddress.ip_interface("2001:db8:200::7/128")


def found(request: nlsock.Request) -> dict[int, bytes]:
    return nlsock.attrs(request.body, rtmsg.IFADDR.size)


def test_a_held_address_has_equal_valid_and_preferred_lifetimes() -> None:
    for iface in (VIP4, VIP6):
        request = rtmsg.hold_address(3, "eth0", iface, 3, replace=False)
        assert request.type == rtmsg.RTM_NEWADDR
        prefered, valid, _, _ = rtmsg.CACHEINFO.unpack(found(request)[rtmsg.IFA_CACHEINFO])
        assert (prefered, valid) == (3, 3)
        family, prefixlen, _, scope, index = rtmsg.IFADDR.unpack_from(request.body)
        assert family == rtmsg.FAMILY[iface.version]
        assert (prefixlen, scope, index) == (iface.max_prefixlen, rtmsg.RT_SCOPE_UNIVERSE, 3)
        assert found(request)[rtmsg.IFA_ADDRESS] == iface.ip.packed


def test_adding_is_exclusive_and_a_refresh_replaces() -> None:
    add = rtmsg.hold_address(3, "eth0", VIP4, 2, replace=False)
    refresh = rtmsg.hold_address(3, "eth0", VIP4, 2, replace=True)
    assert add.flags == nlsock.NLM_F_CREATE | nlsock.NLM_F_EXCL
    assert refresh.flags == nlsock.NLM_F_CREATE | nlsock.NLM_F_REPLACE
    assert add.ok == refresh.ok == ()  # "already there" must reach the caller of an add
    assert "replace 203.0.113.7/32 dev eth0" in refresh.what


def test_an_ipv6_vip_skips_dad_and_the_prefix_route() -> None:
    request = rtmsg.hold_address(3, "eth0", VIP6, 2, replace=True)
    (flags,) = struct.unpack("=I", found(request)[rtmsg.IFA_FLAGS])
    assert flags == rtmsg.IFA_F_NODAD | rtmsg.IFA_F_NOPREFIXROUTE


def answer(cacheinfo: bytes | None) -> nlsock.Message:
    body = rtmsg.IFADDR.pack(2, 32, 0, 0, 3) + nlsock.attr(rtmsg.IFA_ADDRESS, VIP4.ip.packed)
    if cacheinfo is not None:
        body += nlsock.attr(rtmsg.IFA_CACHEINFO, cacheinfo)
    return nlsock.Message(rtmsg.RTM_NEWADDR, 0, body)


def test_the_valid_lifetime_left_reads_back() -> None:
    assert rtmsg.address_lifetime(answer(rtmsg.CACHEINFO.pack(1, 2, 100, 200))) == 2
    forever = rtmsg.CACHEINFO.pack(rtmsg.INFINITY_LIFE_TIME, rtmsg.INFINITY_LIFE_TIME, 0, 0)
    assert rtmsg.address_lifetime(answer(forever)) is None
    assert rtmsg.address_lifetime(answer(None)) is None
    assert rtmsg.address(answer(None))[1] == VIP4
