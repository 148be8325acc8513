"""What a tap's VM is told over IPv6, and how the tap's link-local address is found."""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path

from agent_fakes import host_view

from romana.agent import dhcp6, ledger
from romana.core import dhcp6 as codec
from romana.core import endpoint
from romana.core.endpoint import EndpointRequest

PORT = "1c4c2d6e-7b0a-4d1e-9f3a-5b6c7d8e9f00"
TAP = endpoint.tap_name(PORT)
MAC = "fe:54:00:00:00:aa"


def record(*addresses: str, host_mac: str = MAC) -> ledger.EndpointRecord:
    request = EndpointRequest(
        container_id=PORT, ifname=TAP, netns="", tenant="t1", attachment=endpoint.TAP
    )
    made = ledger.EndpointRecord.of(request, 1.0).ready(
        tuple(ipaddress.ip_address(a) for a in addresses)
    )
    return dataclasses.replace(made, host_mac=host_mac)


def test_a_tap_with_an_ipv6_address_is_told_it_and_the_host_as_its_router() -> None:
    tap6 = dhcp6.tap6_of(record("10.1.16.5", "fd00:10::1:5"), host_view(), 1450)
    assert tap6 is not None
    mac = bytes.fromhex(MAC.replace(":", ""))
    assert tap6.binding == codec.Binding(
        ipaddress.IPv6Address("fd00:10::1:5"), codec.duid_ll(mac), 3600
    )
    advert = tap6.advert
    assert (advert.lifetime, advert.mtu, advert.source_mac) == (dhcp6.ROUTER_LIFETIME, 1450, mac)
    assert advert.managed and not advert.other and advert.prefixes == 0


def test_a_tap_without_an_ipv6_address_or_a_known_mac_is_not_served() -> None:
    hv = host_view()
    assert dhcp6.tap6_of(record("10.1.16.5"), hv, 1450) is None
    assert dhcp6.tap6_of(record("fd00:10::1:5", host_mac=""), hv, 1450) is None
    assert dhcp6.tap6_of(record("fd00:10::1:5", host_mac="fe:54"), hv, 1450) is None


def test_the_link_local_address_is_read_once_it_has_passed_dad(tmp_path: Path) -> None:
    table = tmp_path / "if_inet6"
    lines = [
        "fd000010000000000000000000010005 07 80 00 80 tapx",  # global
        "fe80000000000000fc5400fffe0000aa 07 40 20 c0 tapx",  # tentative
        "fe800000000000000000000000000009 08 40 20 80 tapy",  # another interface
    ]
    table.write_text("\n".join(lines) + "\n")
    assert dhcp6.link_local(7, str(table)) is None
    lines[1] = "fe80000000000000fc5400fffe0000aa 07 40 20 80 tapx"
    table.write_text("\n".join(lines) + "\n")
    assert dhcp6.link_local(7, str(table)) == ipaddress.IPv6Address("fe80::fc54:ff:fe00:aa")
    assert dhcp6.link_local(8, str(table)) == ipaddress.IPv6Address("fe80::9")
