"""Proxy neighbour entries in the host plan: validation, the proxy_ndp sysctl, and the diff
that touches only entries inside the external pools."""

from __future__ import annotations

import ipaddress

import pytest

from romana.agent import drift
from romana.core import hostdiff, hostplan
from romana.core.errors import InvalidInput
from romana.core.hostdiff import (
    AddProxy,
    AddRoute,
    CurrentGateway,
    CurrentHost,
    DeleteProxy,
    DeleteRoute,
)
from romana.core.hostplan import (
    GatewaySpec,
    ProxySpec,
    RouteSpec,
    Sysctl,
)

ip = ipaddress.ip_address
net = ipaddress.ip_network
iface = ipaddress.ip_interface

GATEWAY = GatewaySpec((iface("10.1.0.1/16"), iface("fd00:1::1/64")))
POOLS = (net("203.0.113.0/24"), net("2001:db8:200::/64"))


def proxy(address: str, dev: str = "eth0") -> ProxySpec:
    return ProxySpec(ip(address), dev)


def plan_with(*proxies: ProxySpec, routes: tuple[RouteSpec, ...] = ()) -> hostplan.HostPlan:
    return hostplan.plan(GATEWAY, routes, [], mtu=1500, proxies=proxies, proxy_ranges=POOLS)


def converged(plan: hostplan.HostPlan, *proxies: ProxySpec) -> CurrentHost:
    gateway = CurrentGateway(frozenset(GATEWAY.addresses), True)
    return CurrentHost(gateway, plan.routes, (), proxies)


def issues_of(exc: pytest.ExceptionInfo[InvalidInput]) -> set[tuple[str, str]]:
    return {(i.field, i.rule) for i in exc.value.issues}


# --- validation ----------------------------------------------------------------------------


def test_a_plan_holds_its_proxies_sorted_and_turns_on_proxy_ndp_and_no_delay() -> None:
    plan = plan_with(proxy("2001:db8:200::7"), proxy("203.0.113.9"), proxy("203.0.113.7", "bond0"))
    assert plan.proxies == (
        proxy("203.0.113.7", "bond0"),
        proxy("203.0.113.9"),
        proxy("2001:db8:200::7"),
    )
    assert plan.proxy_ranges == POOLS
    assert plan.sysctls == (
        Sysctl("net.ipv4.ip_forward", "1"),
        Sysctl("net.ipv6.conf.all.forwarding", "1"),
        Sysctl("net.ipv4.neigh.bond0.proxy_delay", "0"),
        Sysctl("net.ipv4.neigh.eth0.proxy_delay", "0"),
        Sysctl("net.ipv6.conf.eth0.proxy_ndp", "1"),
        Sysctl("net.ipv6.neigh.eth0.proxy_delay", "0"),
    )


def test_proxy_ndp_is_added_to_given_sysctls_once_per_device() -> None:
    plan = hostplan.plan(
        GATEWAY,
        [],
        [],
        mtu=1500,
        sysctls=[Sysctl("net.ipv6.conf.eth0.proxy_ndp", "1")],
        proxies=[
            proxy("2001:db8:200::7"),
            proxy("2001:db8:200::8"),
            proxy("2001:db8:200::9", "e1"),
        ],
        proxy_ranges=POOLS,
    )
    assert plan.sysctls == (
        Sysctl("net.ipv6.conf.eth0.proxy_ndp", "1"),
        Sysctl("net.ipv6.conf.e1.proxy_ndp", "1"),
        Sysctl("net.ipv6.neigh.e1.proxy_delay", "0"),
        Sysctl("net.ipv6.neigh.eth0.proxy_delay", "0"),
    )


def test_proxies_turn_on_forwarding_of_their_family() -> None:
    ipv4_only = GatewaySpec((iface("10.1.0.1/16"),))
    plan = hostplan.plan(
        ipv4_only, [], [], mtu=1500, proxies=[proxy("2001:db8:200::7")], proxy_ranges=POOLS
    )
    assert plan.sysctls == (
        Sysctl("net.ipv4.ip_forward", "1"),
        Sysctl("net.ipv6.conf.all.forwarding", "1"),
        Sysctl("net.ipv6.conf.eth0.proxy_ndp", "1"),
        Sysctl("net.ipv6.neigh.eth0.proxy_delay", "0"),
    )


def test_a_plan_without_proxies_is_as_before() -> None:
    plan = hostplan.plan(GATEWAY, [], [], mtu=1500)
    assert plan.proxies == () and plan.proxy_ranges == ()
    assert all("proxy_ndp" not in s.key for s in plan.sysctls)


def test_every_problem_of_the_proxies_is_reported_and_nothing_is_built() -> None:
    with pytest.raises(InvalidInput) as exc:
        plan_with(
            proxy("198.51.100.7"),
            proxy("203.0.113.7", "bad/dev"),
            proxy("203.0.113.8"),
            proxy("203.0.113.8"),
            proxy("2001:db8:200::7", "eth0.100"),
            proxy("2001:db8:999::7"),
            proxy("2001:db8:200::8", "bad dev"),
        )
    assert issues_of(exc) == {
        ("proxies[0].address", "must lie inside one of proxy_ranges"),
        ("proxies[1].dev", "must not be '.', '..' or contain '/', ':' or white space"),
        ("proxies[3]", "repeats proxies[2]"),
        ("proxies[4].dev", "must not contain '.' for an IPv6 proxy"),
        ("proxies[5].address", "must lie inside one of proxy_ranges"),
        ("proxies[6].dev", "must not be '.', '..' or contain '/', ':' or white space"),
    }


def test_a_proxy_needs_a_range_of_its_own_family() -> None:
    with pytest.raises(InvalidInput) as exc:
        hostplan.plan(
            GATEWAY,
            [],
            [],
            mtu=1500,
            proxies=[proxy("2001:db8:200::7")],
            proxy_ranges=[net("203.0.113.0/24")],
        )
    assert issues_of(exc) == {("proxies[0].address", "must lie inside one of proxy_ranges")}


# --- diff ----------------------------------------------------------------------------------


def test_missing_proxies_are_added_after_the_route_operations() -> None:
    plan = plan_with(
        proxy("203.0.113.7"),
        proxy("2001:db8:200::7"),
        routes=(RouteSpec(net("10.2.0.0/16"), ip("192.0.2.2")),),
    )
    current = CurrentHost(CurrentGateway(frozenset(GATEWAY.addresses), True), (), ())
    ops = hostdiff.diff(current, plan)
    assert ops == (
        AddRoute(plan.routes[0]),
        AddProxy(proxy("203.0.113.7")),
        AddProxy(proxy("2001:db8:200::7")),
    )


def test_a_converged_host_needs_nothing() -> None:
    plan = plan_with(proxy("203.0.113.7"), proxy("2001:db8:200::7"))
    assert hostdiff.diff(converged(plan, *plan.proxies), plan) == ()


def test_ours_not_wanted_are_deleted_before_additions_and_a_moved_proxy_is_both() -> None:
    plan = plan_with(proxy("203.0.113.7", "eth1"), proxy("203.0.113.8"))
    current = converged(
        plan, proxy("203.0.113.7", "eth0"), proxy("203.0.113.8"), proxy("2001:db8:200::9")
    )
    assert hostdiff.diff(current, plan) == (
        DeleteProxy(proxy("203.0.113.7", "eth0")),
        DeleteProxy(proxy("2001:db8:200::9")),
        AddProxy(proxy("203.0.113.7", "eth1")),
    )


def test_proxies_outside_the_ranges_are_never_touched() -> None:
    plan = plan_with(proxy("203.0.113.7"))
    foreign = proxy("198.51.100.7")
    assert hostdiff.diff(converged(plan, proxy("203.0.113.7"), foreign), plan) == ()
    # a plan without external pools owns no proxy entry at all
    bare = hostplan.plan(GATEWAY, [], [], mtu=1500)
    assert hostdiff.diff(converged(bare, proxy("203.0.113.7")), bare) == ()


def test_route_and_proxy_deletions_keep_their_order() -> None:
    plan = plan_with()
    stale = RouteSpec(net("10.9.0.0/16"), ip("192.0.2.9"))
    gateway = CurrentGateway(frozenset(GATEWAY.addresses), True)
    current = CurrentHost(gateway, (stale,), (), (proxy("203.0.113.7"),))
    assert hostdiff.diff(current, plan) == (
        DeleteRoute(stale),
        DeleteProxy(proxy("203.0.113.7")),
    )


# --- drift ---------------------------------------------------------------------------------


def test_a_proxy_put_back_counts_as_a_proxies_repair_and_is_named() -> None:
    plan = plan_with(proxy("203.0.113.7"))
    add = AddProxy(proxy("203.0.113.7"))
    assert drift.REPAIRS[AddProxy] == "proxies"
    assert DeleteProxy not in drift.REPAIRS
    assert drift.was_applied(add, plan)
    assert not drift.was_applied(add, plan_with())
    assert not drift.was_applied(add, None)
    assert drift.describe(add) == "AddProxy 203.0.113.7 dev eth0"
    assert drift.describe(DeleteProxy(proxy("2001:db8:200::7", "e1"))) == (
        "DeleteProxy 2001:db8:200::7 dev e1"
    )
