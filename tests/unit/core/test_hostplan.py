"""The host plan: validation that reports everything at once, and the pure reconcile diff."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest

from romana.core import hostdiff, hostplan
from romana.core.errors import InvalidInput
from romana.core.hostdiff import (
    AddEndpoint,
    AddRoute,
    CurrentEndpoint,
    CurrentGateway,
    CurrentHost,
    DeleteEndpoint,
    DeleteRoute,
    EnsureGateway,
    RepairEndpoint,
    ReplaceRoute,
)
from romana.core.hostplan import (
    EndpointSpec,
    GatewaySpec,
    RouteSpec,
    Sysctl,
)

ip = ipaddress.ip_address
net = ipaddress.ip_network
iface = ipaddress.ip_interface

GATEWAY = GatewaySpec((iface("10.1.0.1/16"), iface("fd00:1::1/64")))


def ep(id: str = "c1:eth0", *addrs: str, mtu: int = 1500, **kw: object) -> EndpointSpec:
    addresses = tuple(ip(a) for a in (addrs or ("10.1.17.1",)))
    gateways = tuple(
        ip("10.1.0.1") if v == 4 else ip("fd00:1::1")
        for v in sorted({a.version for a in addresses})
    )
    fields: dict[str, object] = {
        "id": id,
        "netns": "/run/netns/w1",
        "ifname": "eth0",
        "addresses": addresses,
        "gateways": gateways,
        "mtu": mtu,
    }
    fields.update(kw)
    return EndpointSpec(**fields)  # type: ignore[arg-type]


def route(dst: str, via: str, dev: str | None = None) -> RouteSpec:
    return RouteSpec(net(dst), ip(via), dev)


def issues_of(exc: pytest.ExceptionInfo[InvalidInput]) -> set[tuple[str, str]]:
    return {(i.field, i.rule) for i in exc.value.issues}


# --- names ---------------------------------------------------------------------------------


def test_host_ifname_is_stable_short_and_ours() -> None:
    name = hostplan.host_ifname("0123abcd:eth0")
    assert name == hostplan.host_ifname("0123abcd:eth0")
    assert name != hostplan.host_ifname("0123abcd:eth1")
    assert len(name) == 15 and name.startswith("romana")
    assert hostplan.is_host_ifname(name)


@pytest.mark.parametrize("name", ["romana-gw", "eth0", "romana12345678", "romanaABCDEF123", ""])
def test_names_we_did_not_generate_are_not_ours(name: str) -> None:
    assert not hostplan.is_host_ifname(name)


def test_gateway_for_finds_the_prefix_holding_an_address() -> None:
    assert GATEWAY.gateway_for(ip("10.1.200.9")) == ip("10.1.0.1")
    assert GATEWAY.gateway_for(ip("fd00:1::99")) == ip("fd00:1::1")
    assert GATEWAY.gateway_for(ip("10.2.0.9")) is None
    spec = ep("x", "10.1.17.1", "fd00:1::11:1")
    assert spec.gateway_for(6) == ip("fd00:1::1")
    assert ep().gateway_for(6) is None


# --- validation ----------------------------------------------------------------------------


def test_a_valid_plan_is_built_sorted_with_default_sysctls() -> None:
    plan = hostplan.plan(
        GATEWAY,
        [route("10.3.0.0/16", "192.0.2.3"), route("10.2.0.0/16", "192.0.2.2", "eth0")],
        [ep("b", "10.1.17.2"), ep("a", "10.1.17.1", "fd00:1::11:1")],
        mtu=1500,
    )
    assert [r.dst for r in plan.routes] == [net("10.2.0.0/16"), net("10.3.0.0/16")]
    assert [e.id for e in plan.endpoints] == ["a", "b"]
    assert plan.sysctls == (
        Sysctl("net.ipv4.ip_forward", "1"),
        Sysctl("net.ipv6.conf.all.forwarding", "1"),
    )


def test_default_sysctls_follow_the_families_in_use() -> None:
    assert hostplan.default_sysctls([4]) == (Sysctl("net.ipv4.ip_forward", "1"),)
    assert hostplan.default_sysctls([]) == ()


def test_every_problem_of_a_plan_is_reported_at_once() -> None:
    bad_gateway = GatewaySpec((iface("10.1.0.1/32"), iface("10.1.0.1/16")), ifname="x" * 16)
    with pytest.raises(InvalidInput) as exc:
        hostplan.plan(
            bad_gateway,
            [
                route("10.2.0.0/16", "192.0.2.2"),
                route("10.2.0.0/16", "192.0.2.9"),
                route("10.1.0.0/24", "192.0.2.9"),
                route("fd00:9::/64", "192.0.2.9", dev="bad/dev"),
                route("10.5.0.0/16", "10.5.0.1"),
            ],
            [
                ep("a", "10.1.17.1"),
                ep("a", "10.1.17.1"),
                ep("c", "10.1.17.3", mtu=9000, gateways=(ip("10.1.0.99"),)),
            ],
            mtu=1500,
            sysctls=[Sysctl("kernel.panic", "1"), Sysctl("net.ipv4/ip_forward", "1")],
        )
    found = issues_of(exc)
    assert ("gateway.ifname", "must be 1..15 characters") in found
    assert ("gateway.addresses[0]", "must carry the host-prefix length") in found
    assert ("gateway.addresses[1]", "overlaps another gateway prefix") in found
    assert ("routes[1].dst", "repeats routes[0].dst") in found
    assert ("routes[2].dst", "overlaps this host's own prefix 10.1.0.0/16") in found
    assert ("routes[3].via", "must be an IPv6 address like dst") in found
    assert any(f == "routes[3].dev" for f, _ in found)
    assert ("routes[4].via", "must not lie inside dst 10.5.0.0/16") in found
    assert ("endpoints[1].id", "repeats endpoints[0].id") in found
    assert ("endpoints[2].gateways", "10.1.0.99 is not a gateway address of this host") in found
    assert ("endpoints[2].mtu", "must be <= the host mtu 1500") in found
    assert any(f == "sysctls[0].key" for f, _ in found)
    assert any(f == "sysctls[1].key" for f, _ in found)
    assert str(exc.value).startswith("host plan: ")


def test_an_address_used_by_two_endpoints_is_refused() -> None:
    with pytest.raises(InvalidInput) as exc:
        hostplan.plan(GATEWAY, [], [ep("a", "10.1.17.1"), ep("b", "10.1.17.1")], mtu=1500)
    assert ("endpoints[1].addresses", "10.1.17.1 is also used by endpoints[0]") in issues_of(exc)


def test_the_host_mtu_must_be_in_range() -> None:
    with pytest.raises(InvalidInput) as exc:
        hostplan.plan(GATEWAY, [], [], mtu=10)
    assert ("mtu", "must be 68..65535") in issues_of(exc)


def test_a_host_ifname_collision_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hostplan, "host_ifname", lambda _id: "romana000000000")
    with pytest.raises(InvalidInput) as exc:
        hostplan.plan(GATEWAY, [], [ep("a"), ep("b", "10.1.17.2")], mtu=1500)
    assert ("endpoints[1].id", "hashes to the host ifname of endpoints[0]") in issues_of(exc)


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        ({"id": ""}, "endpoint.id", "must not be empty"),
        ({"id": "x" * 256}, "endpoint.id", "must be at most 255 bytes"),
        ({"netns": "w1"}, "endpoint.netns", "must be an absolute path to a network namespace"),
        ({"ifname": ""}, "endpoint.ifname", "must be 1..15 characters"),
        (
            {"ifname": "a:b"},
            "endpoint.ifname",
            "must not be '.', '..' or contain '/', ':' or white space",
        ),
        (
            {"ifname": ".."},
            "endpoint.ifname",
            "must not be '.', '..' or contain '/', ':' or white space",
        ),
        ({"addresses": (), "gateways": ()}, "endpoint.addresses", "must hold at least one address"),
        ({"addresses": (ip("10.1.17.1"),) * 2}, "endpoint.addresses", "must not repeat an address"),
        ({"gateways": ()}, "endpoint.gateways", "must hold exactly one IPv4 gateway"),
        (
            {"addresses": (ip("10.1.0.1"),), "gateways": (ip("10.1.0.1"),)},
            "endpoint.addresses",
            "10.1.0.1 is also a gateway",
        ),
        (
            {"gateways": (ip("10.1.0.1"), ip("fd00:1::1"))},
            "endpoint.gateways",
            "has an IPv6 gateway but no IPv6 address",
        ),
        ({"mtu": 67}, "endpoint.mtu", "must be 68..65535"),
        (
            {"mac": "01:00:5e:00:00:01"},
            "endpoint.mac",
            "must be a unicast MAC address like 02:00:0a:01:11:01",
        ),
        (
            {"mac": "00:00:00:00:00:00"},
            "endpoint.mac",
            "must be a unicast MAC address like 02:00:0a:01:11:01",
        ),
        (
            {"mac": "02:00:0a:01:11"},
            "endpoint.mac",
            "must be a unicast MAC address like 02:00:0a:01:11:01",
        ),
    ],
)
def test_endpoint_rules(changes: dict[str, object], field: str, rule: str) -> None:
    spec = dataclasses.replace(ep(), **changes)  # type: ignore[arg-type]
    assert (field, rule) in {(i.field, i.rule) for i in hostplan.endpoint_issues(spec)}


def test_ipv6_endpoints_need_the_ipv6_minimum_mtu() -> None:
    spec = ep("a", "fd00:1::11:1", mtu=1000)
    rules = {(i.field, i.rule) for i in hostplan.endpoint_issues(spec)}
    assert rules == {("endpoint.mtu", "must be 1280..65535")}


def test_a_valid_endpoint_has_no_issues() -> None:
    assert (
        hostplan.endpoint_issues(ep("a", "10.1.17.1", "fd00:1::11:1", mac="02:00:0A:01:11:01"))
        == []
    )


# --- diff ----------------------------------------------------------------------------------


def current_of(plan: hostplan.HostPlan) -> CurrentHost:
    """What a converged host looks like to the adapter."""
    return CurrentHost(
        gateway=CurrentGateway(frozenset(plan.gateway.addresses), up=True),
        routes=tuple(dataclasses.replace(r, dev=r.dev or "eth0") for r in plan.routes),
        endpoints=tuple(
            CurrentEndpoint(e.id, e.host_ifname, frozenset(e.addresses), e.mtu, up=True)
            for e in plan.endpoints
        ),
    )


PLAN = hostplan.plan(
    GATEWAY,
    [route("10.2.0.0/16", "192.0.2.2"), route("fd00:2::/64", "2001:db8:ff::2")],
    [ep("a", "10.1.17.1", "fd00:1::11:1"), ep("b", "10.1.17.2")],
    mtu=1500,
)


def test_a_converged_host_needs_nothing() -> None:
    assert hostdiff.diff(current_of(PLAN), PLAN) == ()


def test_an_empty_host_gets_everything_in_order() -> None:
    ops = hostdiff.diff(CurrentHost(None, (), ()), PLAN)
    assert ops == (
        EnsureGateway(GATEWAY),
        AddEndpoint(PLAN.endpoints[0]),
        AddEndpoint(PLAN.endpoints[1]),
        AddRoute(PLAN.routes[0]),
        AddRoute(PLAN.routes[1]),
    )


def test_gateway_drift_is_repaired() -> None:
    current = current_of(PLAN)
    missing = CurrentGateway(frozenset({iface("10.1.0.1/16")}), up=True)
    down = CurrentGateway(frozenset(GATEWAY.addresses), up=False)
    for gateway in (missing, down):
        ops = hostdiff.diff(dataclasses.replace(current, gateway=gateway), PLAN)
        assert ops == (EnsureGateway(GATEWAY),)


def test_route_changes_and_stale_routes() -> None:
    current = current_of(PLAN)
    moved = route("10.2.0.0/16", "192.0.2.22", "eth0")
    stale = route("10.9.0.0/16", "192.0.2.9", "eth0")
    drifted = dataclasses.replace(current, routes=(moved, current.routes[1], stale))
    assert hostdiff.diff(drifted, PLAN) == (
        DeleteRoute(stale),
        ReplaceRoute(PLAN.routes[0], moved),
    )


def test_the_device_is_compared_only_when_the_plan_names_one() -> None:
    pinned = hostplan.plan(GATEWAY, [route("10.2.0.0/16", "192.0.2.2", "eth1")], [], mtu=1500)
    current = dataclasses.replace(
        current_of(pinned), routes=(route("10.2.0.0/16", "192.0.2.2", "eth0"),)
    )
    assert hostdiff.diff(current, pinned) == (ReplaceRoute(pinned.routes[0], current.routes[0]),)
    loose = hostplan.plan(GATEWAY, [route("10.2.0.0/16", "192.0.2.2")], [], mtu=1500)
    assert hostdiff.diff(dataclasses.replace(current_of(loose), routes=current.routes), loose) == ()


def test_endpoint_drift_is_named_and_repaired() -> None:
    current = current_of(PLAN)
    a = current.endpoints[0]
    drifted = dataclasses.replace(
        a, id="", addresses=frozenset({ip("10.1.17.1"), ip("10.1.17.99")}), mtu=1400, up=False
    )
    ops = hostdiff.diff(
        dataclasses.replace(current, endpoints=(drifted, current.endpoints[1])), PLAN
    )
    assert ops == (
        RepairEndpoint(
            PLAN.endpoints[0],
            (
                "the endpoint id alias is missing",
                "host route to fd00:1::11:1 is missing",
                "stale host route to 10.1.17.99",
                "mtu is 1400, want 1500",
                "the host interface is down",
            ),
        ),
    )


def test_stale_and_foreign_id_endpoints_are_deleted_first() -> None:
    current = current_of(PLAN)
    gone = CurrentEndpoint("old", hostplan.host_ifname("old"), frozenset(), 1500, up=True)
    other = dataclasses.replace(current.endpoints[1], id="someone-else")
    ops = hostdiff.diff(
        dataclasses.replace(current, endpoints=(current.endpoints[0], other, gone)), PLAN
    )
    assert ops == (
        DeleteEndpoint(gone.host_ifname, "old"),
        DeleteEndpoint(other.host_ifname, "someone-else"),
        AddEndpoint(PLAN.endpoints[1]),
    )
