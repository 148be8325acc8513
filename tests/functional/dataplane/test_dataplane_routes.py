"""Routes to other hosts' prefixes, ownership by route protocol, and full reconcile."""

from __future__ import annotations

import ipaddress

import pytest

from romana.core import hostdiff, hostplan, kernelnames
from romana.core.errors import AlreadyExists
from support.routed import Cluster

PROTO = str(kernelnames.ROUTE_PROTOCOL)

pytestmark = pytest.mark.root

ip = ipaddress.ip_address
net = ipaddress.ip_network


def test_host_prefix_routes_carry_our_protocol_and_are_listed(cluster: Cluster) -> None:
    h1 = cluster.hosts[0]
    shown = cluster.lab.run(h1, ["ip", "route", "show", "proto", PROTO]).stdout
    assert "10.2.0.0/16 via 198.18.0.2 dev eth0" in shown
    assert "10.3.0.0/16 via 198.18.0.3 dev eth0" in shown
    shown6 = cluster.lab.run(h1, ["ip", "-6", "route", "show", "proto", PROTO]).stdout
    assert "fd00:2::/64 via 2001:db8:ff::2 dev eth0" in shown6
    assert set(cluster.nl(h1).routes()) == {
        hostplan.RouteSpec(net("10.2.0.0/16"), ip("198.18.0.2"), "eth0"),
        hostplan.RouteSpec(net("10.3.0.0/16"), ip("198.18.0.3"), "eth0"),
        hostplan.RouteSpec(net("fd00:2::/64"), ip("2001:db8:ff::2"), "eth0"),
        hostplan.RouteSpec(net("fd00:3::/64"), ip("2001:db8:ff::3"), "eth0"),
    }


def test_ensure_routes_twice_changes_nothing_and_a_moved_next_hop_is_replaced(
    cluster: Cluster,
) -> None:
    h1 = cluster.hosts[0]
    nl = cluster.nl(h1)
    plan = cluster.plan(h1, [])
    assert nl.ensure_routes(plan.routes) == 0
    moved = hostplan.RouteSpec(net("10.2.0.0/16"), ip("198.18.0.3"))
    assert nl.ensure_routes([moved]) == 1
    assert "10.2.0.0/16 via 198.18.0.3" in cluster.lab.run(h1, ["ip", "route"]).stdout
    assert [op.__class__ for op in hostdiff.diff(nl.current(), plan)] == [hostdiff.ReplaceRoute]


def test_a_route_deleted_by_hand_is_seen_missing_and_restored(cluster: Cluster) -> None:
    lab = cluster.lab
    h1, h2 = cluster.hosts[:2]
    w1, _ = cluster.endpoint(h1, "a", 1, ipv6=False)
    _, s2 = cluster.endpoint(h2, "a", 1, ipv6=False)
    nl = cluster.nl(h1)
    lab.run(h1, ["ip", "route", "del", "10.2.0.0/16"])
    ops = hostdiff.diff(nl.current(), cluster.plan(h1, cluster.endpoints_of(h1)))
    assert ops == (hostdiff.AddRoute(hostplan.RouteSpec(net("10.2.0.0/16"), ip("198.18.0.2"))),)
    for op in ops:
        nl.apply(op)
    assert lab.ping(w1, s2.addresses[0])


def test_a_foreign_route_with_our_destination_is_reported_and_kept(cluster: Cluster) -> None:
    lab = cluster.lab
    h1 = cluster.hosts[0]
    lab.run(h1, ["ip", "route", "add", "10.9.0.0/16", "via", "198.18.0.3", "proto", "static"])
    wanted = [
        hostplan.RouteSpec(net("10.9.0.0/16"), ip("198.18.0.2")),
        hostplan.RouteSpec(net("10.8.0.0/16"), ip("198.18.0.2")),
    ]
    with pytest.raises(AlreadyExists, match=r"10\.9\.0\.0/16 exist and are not ours"):
        cluster.nl(h1).ensure_routes(wanted)
    routes = lab.run(h1, ["ip", "route"]).stdout
    assert "10.9.0.0/16 via 198.18.0.3 dev eth0 proto static" in routes
    assert "10.8.0.0/16 via 198.18.0.2 dev eth0 proto 82" in routes  # the others still applied
    assert cluster.nl(h1).delete_route(wanted[0]) is False
    assert "10.9.0.0/16 via 198.18.0.3" in lab.run(h1, ["ip", "route"]).stdout


def test_reconcile_removes_only_what_is_ours(cluster: Cluster) -> None:
    lab = cluster.lab
    h1 = cluster.hosts[0]
    nl = cluster.nl(h1)
    cluster.endpoint(h1, "a", 1)
    cluster.endpoint(h1, "b", 2)
    foreign = [
        ["ip", "link", "add", "vethother", "type", "veth", "peer", "name", "vethpeer"],
        ["ip", "link", "add", "romanalike", "type", "bridge"],
        ["ip", "link", "set", "vethother", "up"],
        ["ip", "route", "add", "10.50.0.0/16", "via", "198.18.0.2", "proto", "static"],
        ["ip", "route", "add", "10.51.0.0/16", "dev", "vethother"],
        ["ip", "route", "add", "10.52.0.0/16", "via", "198.18.0.3", "proto", "bird"],
    ]
    for argv in foreign:
        lab.run(h1, argv)
    before = {
        argv[-1]: lab.run(h1, argv).stdout
        for argv in (
            ["ip", "-o", "link", "show", "vethother"],
            ["ip", "-o", "link", "show", "romanalike"],
        )
    }
    empty = hostplan.plan(hostplan.GatewaySpec(()), [], [], mtu=1500, sysctls=[])
    ops = hostdiff.diff(nl.current(), empty)
    kinds = sorted(op.__class__.__name__ for op in ops)
    assert kinds == ["DeleteEndpoint"] * 2 + ["DeleteRoute"] * 4 + ["EnsureGateway"]
    for op in ops:
        nl.apply(op)
    assert hostdiff.diff(nl.current(), empty) == ()
    assert lab.run(h1, ["ip", "route", "show", "proto", PROTO]).stdout == ""
    assert lab.run(h1, ["ip", "-6", "route", "show", "proto", PROTO]).stdout == ""
    routes = lab.run(h1, ["ip", "route"]).stdout
    for dst in ("10.50.0.0/16", "10.51.0.0/16", "10.52.0.0/16"):
        assert dst in routes
    for name, shown in before.items():
        assert lab.run(h1, ["ip", "-o", "link", "show", name]).stdout == shown
