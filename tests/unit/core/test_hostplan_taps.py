"""Tap endpoints in the host plan: validated, wired while the device exists, never deleted."""

from __future__ import annotations

import ipaddress

from romana.core import endpoint, hostdiff, hostplan, kernelnames
from romana.core.hostdiff import (
    AddEndpoint,
    CurrentEndpoint,
    CurrentGateway,
    CurrentHost,
    DeleteEndpoint,
    RepairEndpoint,
)
from romana.core.hostplan import (
    EndpointSpec,
    GatewaySpec,
)

ip = ipaddress.ip_address
PORT = "1c4c2d6e-7b0a-4d1e-9f3a-5b6c7d8e9f00"
TAP = endpoint.tap_name(PORT)
GATEWAY = GatewaySpec((ipaddress.ip_interface("10.1.0.1/16"),))


def tap_spec(**changes: object) -> EndpointSpec:
    fields: dict[str, object] = {
        "id": endpoint.endpoint_key(PORT, TAP),
        "netns": "",
        "ifname": TAP,
        "addresses": (ip("10.1.16.5"),),
        "gateways": (ip("10.1.0.1"),),
        "mtu": 1500,
        "attachment": hostplan.TAP,
    }
    fields.update(changes)
    return EndpointSpec(**fields)  # type: ignore[arg-type]


PLAN = hostplan.plan(GATEWAY, [], [tap_spec()], mtu=1500)


def host(*endpoints: CurrentEndpoint) -> CurrentHost:
    return CurrentHost(CurrentGateway(frozenset(GATEWAY.addresses), up=True), (), endpoints)


def seen(*addresses: str, name: str = TAP, mtu: int = 1450) -> CurrentEndpoint:
    wired = frozenset(ip(a) for a in addresses)
    return CurrentEndpoint("", name, wired, mtu, up=True, attachment=hostplan.TAP)


def test_a_tap_is_named_as_nova_names_it_and_its_host_ifname_is_the_tap() -> None:
    assert TAP == "tap1c4c2d6e-7b" and endpoint.is_tap_name(TAP)
    assert tap_spec().host_ifname == TAP
    assert not hostplan.is_host_ifname(TAP)
    assert not endpoint.is_tap_name("tap0") and not endpoint.is_tap_name("romana0123456789")


def test_a_tap_spec_has_no_namespace_and_a_tap_name() -> None:
    assert hostplan.endpoint_issues(tap_spec()) == []
    found = {
        (i.field, i.rule)
        for i in hostplan.endpoint_issues(tap_spec(netns="/run/netns/x", ifname="eth0"))
    }
    assert found == {
        ("endpoint.netns", "must be empty for a tap"),
        ("endpoint.ifname", "must be tap + 11 characters for a tap"),
    }
    odd = hostplan.endpoint_issues(tap_spec(attachment="macvlan"))
    assert [(i.field, i.rule) for i in odd] == [
        ("endpoint.attachment", "must be veth, tap or docker")
    ]


def test_a_missing_tap_is_left_alone() -> None:
    assert hostdiff.diff(host(), PLAN) == ()


def test_a_tap_that_appears_is_wired_and_a_wired_one_needs_nothing() -> None:
    assert hostdiff.diff(host(seen()), PLAN) == (AddEndpoint(tap_spec()),)
    assert hostdiff.diff(host(seen("10.1.16.5")), PLAN) == ()  # its MTU is Nova's


def test_a_wired_tap_that_drifted_is_repaired() -> None:
    ops = hostdiff.diff(host(seen("10.1.16.5", "10.1.16.9")), PLAN)
    assert ops == (RepairEndpoint(tap_spec(), ("stale host route to 10.1.16.9",)),)


def test_a_tap_the_plan_does_not_hold_is_unwired_only_when_wired() -> None:
    empty = hostplan.plan(GATEWAY, [], [], mtu=1500)
    assert hostdiff.diff(host(seen()), empty) == ()
    assert hostdiff.diff(host(seen("10.1.16.5")), empty) == (DeleteEndpoint(TAP, ""),)


def test_the_tap_prefix_is_one_name_in_the_endpoint_port_and_the_kernel_names() -> None:
    assert kernelnames.TAP_IFNAME_PREFIX == endpoint.TAP_PREFIX == "tap"
