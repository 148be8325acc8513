"""The gateway interface, sysctls and underlay MTU, in real namespaces."""

from __future__ import annotations

import ipaddress
import json

import pytest

from romana.core import hostdiff, hostplan, kernelnames
from romana.core.errors import AlreadyExists
from romana.dataplane import sysctl
from romana.dataplane.netlink import Netlink
from romana.lab import Lab
from support.routed import gateway_of

GW = kernelnames.GATEWAY_IFNAME

pytestmark = pytest.mark.root


def link_json(lab: Lab, ns: object, ifname: str) -> dict[str, object]:
    done = lab.run(ns, ["ip", "-d", "-j", "addr", "show", "dev", ifname])  # type: ignore[arg-type]
    parsed: list[dict[str, object]] = json.loads(done.stdout)
    return parsed[0]


def essentials(info: dict[str, object]) -> tuple[object, ...]:
    """What ensure could change: identity, kind, state, MTU, MAC and addresses."""
    kind = info["linkinfo"]["info_kind"]  # type: ignore[index]
    return (
        info["ifindex"],
        kind,
        info["flags"],
        info["mtu"],
        info["address"],
        global_addresses(info),
    )


def global_addresses(info: dict[str, object]) -> set[str]:
    addr_info = info["addr_info"]
    assert isinstance(addr_info, list)
    return {f"{a['local']}/{a['prefixlen']}" for a in addr_info if a["scope"] == "global"}


def test_gateway_holds_every_gateway_address_on_the_fallback_device(lab: Lab) -> None:
    host = lab.add_host("h1")
    dummy = lab.run(host, ["ip", "link", "add", "probe0", "type", "dummy"], check=False)
    with Netlink(host.path) as nl:
        assert nl.ensure_gateway(gateway_of(1)) is True
    info = link_json(lab, host, GW)
    kind = info["linkinfo"]["info_kind"]  # type: ignore[index]
    assert kind == ("dummy" if dummy.returncode == 0 else "bridge")
    assert "UP" in info["flags"]  # type: ignore[operator]
    assert global_addresses(info) == {"10.1.0.1/16", "fd00:1::1/64"}
    # the host prefix is routed into romana-gw: traffic to an address no endpoint holds
    # sinks there instead of leaving by a default route and looping back
    assert "dev romana-gw" in lab.run(host, ["ip", "route", "show", "10.1.0.0/16"]).stdout
    assert "dev romana-gw" in lab.run(host, ["ip", "-6", "route", "show", "fd00:1::/64"]).stdout


def test_ensure_gateway_is_idempotent_and_converges_on_changes(lab: Lab) -> None:
    host = lab.add_host("h1")
    with Netlink(host.path) as nl:
        nl.ensure_gateway(gateway_of(1))
        before = essentials(link_json(lab, host, GW))
        assert nl.ensure_gateway(gateway_of(1)) is False
        assert essentials(link_json(lab, host, GW)) == before
        moved = hostplan.GatewaySpec((ipaddress.ip_interface("10.7.0.1/16"),))
        assert nl.ensure_gateway(moved) is True
        assert global_addresses(link_json(lab, host, GW)) == {"10.7.0.1/16"}
        lab.run(host, ["ip", "link", "set", GW, "down"])
        assert nl.gateway() == hostdiff.CurrentGateway(frozenset(moved.addresses), up=False)
        assert nl.ensure_gateway(moved) is True
        assert nl.gateway() == hostdiff.CurrentGateway(frozenset(moved.addresses), up=True)


def test_a_gateway_name_held_by_another_kind_of_device_is_left_alone(lab: Lab) -> None:
    host = lab.add_host("h1")
    lab.run(host, ["ip", "link", "add", GW, "type", "veth", "peer", "name", "x0"])
    with Netlink(host.path) as nl, pytest.raises(AlreadyExists, match="exists as a veth"):
        nl.ensure_gateway(gateway_of(1))
    assert global_addresses(link_json(lab, host, GW)) == set()


def test_sysctls_start_off_in_a_new_namespace_and_are_ensured(lab: Lab) -> None:
    host = lab.add_host("h1")
    wanted = hostplan.default_sysctls([4, 6])
    assert sysctl.read("net.ipv4.ip_forward", netns=host.path) == "0"
    with Netlink(host.path) as nl:
        assert nl.ensure_sysctls(wanted) == ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding")
        assert nl.ensure_sysctls(wanted) == ()
    seen = lab.run(host, ["sysctl", "-n", "net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"])
    assert seen.stdout.split() == ["1", "1"]


def test_underlay_mtu_is_the_mtu_of_the_interface_toward_peers(lab: Lab) -> None:
    h1, h2 = lab.add_host("h1"), lab.add_host("h2")
    lab.run(h1, ["ip", "link", "set", "eth0", "mtu", "1400"])
    with Netlink(h1.path) as nl:
        assert nl.underlay_mtu(h2.underlay_ip) == 1400
        assert nl.underlay_mtu(h2.underlay_ip6) == 1400


def test_the_gateway_address_of_another_prefix_length_is_the_one_removed(lab: Lab) -> None:
    """One address may sit on a link twice with two prefix lengths; repairing the gateway
    removes the stray one and keeps ours (the kernel matches a delete by address *and*
    prefix length only when told both)."""
    host = lab.add_host("h1")
    with Netlink(host.path) as nl:
        nl.ensure_gateway(gateway_of(1))
    lab.run(host, ["ip", "addr", "add", "10.1.0.1/24", "dev", GW])
    with Netlink(host.path) as nl:
        assert nl.ensure_gateway(gateway_of(1)) is True
    assert global_addresses(link_json(lab, host, GW)) == {"10.1.0.1/16", "fd00:1::1/64"}
