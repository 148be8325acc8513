"""rtnetlink requests carry the fields the kernel matches on; answers parse back."""

from __future__ import annotations

import errno
import ipaddress
import struct

from romana.core import kernelnames
from romana.dataplane import nlsock, rtmsg, rtneigh


def test_a_route_request_reads_back_as_the_route_it_names() -> None:
    dst = ipaddress.ip_network("10.2.0.0/16")
    request = rtmsg.route_request(
        rtmsg.RTM_NEWROUTE, 0, "route add", dst, gateway=ipaddress.ip_address("198.18.0.2"), oif=7
    )
    route = rtmsg.route(nlsock.Message(request.type, 0, request.body))
    assert route == rtmsg.Route(
        dst=dst,
        gateway=ipaddress.ip_address("198.18.0.2"),
        oif=7,
        proto=kernelnames.ROUTE_PROTOCOL,
        priority=0,
        type=rtmsg.RTN_UNICAST,
        scope=rtmsg.RT_SCOPE_UNIVERSE,
        table=kernelnames.ROUTE_TABLE,
    )


def test_a_route_delete_names_our_protocol_so_no_other_route_matches() -> None:
    dst = ipaddress.ip_network("fd00:2::/64")
    request = rtmsg.route_request(rtmsg.RTM_DELROUTE, 0, "route del", dst, priority=1024)
    route = rtmsg.route(nlsock.Message(request.type, 0, request.body))
    assert (route.proto, route.priority, route.type) == (kernelnames.ROUTE_PROTOCOL, 1024, 0)


def test_ipv6_host_addresses_skip_dad_and_the_prefix_route() -> None:
    host = rtmsg.add_address(3, "eth0", ipaddress.ip_interface("fd00::5/128"), 0)
    gateway = rtmsg.add_address(3, "eth0", ipaddress.ip_interface("fd00::1/64"), 0)

    def flags(request: nlsock.Request) -> int:
        found = nlsock.attrs(request.body, rtmsg.IFADDR.size)
        return int(struct.unpack("=I", found[rtmsg.IFA_FLAGS])[0])

    assert flags(host) == rtmsg.IFA_F_NODAD | rtmsg.IFA_F_NOPREFIXROUTE
    assert flags(gateway) == rtmsg.IFA_F_NODAD  # the gateway's /64 keeps its prefix route


def test_a_link_answer_parses_to_a_snapshot() -> None:
    body = (
        rtmsg.IFINFO.pack(0, 1, 12, rtmsg.IFF_UP, 0)
        + nlsock.string(rtmsg.IFLA_IFNAME, "romana0123456789")
        + nlsock.u32(rtmsg.IFLA_MTU, 1450)
        + nlsock.attr(rtmsg.IFLA_ADDRESS, bytes.fromhex("0602aabbccdd"))
        + nlsock.string(rtmsg.IFLA_IFALIAS, "ns:eth0")
        + nlsock.u32(rtmsg.IFLA_LINK, 4)
        + nlsock.nested(rtmsg.IFLA_LINKINFO, nlsock.string(rtmsg.IFLA_INFO_KIND, "veth"))
    )
    link = rtmsg.link(nlsock.Message(rtmsg.RTM_NEWLINK, 0, body))
    assert link == rtmsg.Link(
        12, "romana0123456789", "veth", 1450, "06:02:aa:bb:cc:dd", True, "ns:eth0", 4
    )


def test_a_proxy_entry_reads_back_and_converges_on_add_and_delete() -> None:
    address = ipaddress.ip_address("2001:db8:200::7")
    add = rtneigh.proxy_entry(True, 4, "eth0", address)
    delete = rtneigh.proxy_entry(False, 4, "eth0", address)
    assert (add.type, delete.type) == (rtneigh.RTM_NEWNEIGH, rtneigh.RTM_DELNEIGH)
    assert add.ok == (errno.EEXIST,) and set(delete.ok) == {errno.ENOENT, errno.ENODEV}
    for request in (add, delete):
        assert rtneigh.proxy(nlsock.Message(request.type, 0, request.body)) == (4, address)
    # added entries carry our protocol, so `ip neigh show proxy` tells them apart
    found = nlsock.attrs(add.body, rtneigh.NDMSG.size)
    assert found[rtneigh.NDA_PROTOCOL] == bytes([kernelnames.ROUTE_PROTOCOL])


def test_the_proxy_dump_asks_for_the_proxy_table_and_skips_ordinary_neighbours() -> None:
    dump = rtneigh.dump_proxies()
    assert dump.dump and rtneigh.NDMSG.unpack_from(dump.body)[3] == rtneigh.NTF_PROXY
    ordinary = rtneigh.neighbour_entry(
        4, "eth0", ipaddress.ip_address("10.1.0.1"), "02:00:00:00:00:01"
    )
    assert rtneigh.proxy(nlsock.Message(ordinary.type, 0, ordinary.body)) is None
