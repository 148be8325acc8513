"""Moved addresses in the desired state: exception routes and endpoints of another prefix."""

from __future__ import annotations

import ipaddress

from agent_fakes import host_view

from romana.agent import desired, ledger
from romana.core import hostplan


def ready(name: str, address: str) -> ledger.EndpointRecord:
    record = ledger.EndpointRecord(
        container_id=name, ifname="eth0", netns=f"/run/netns/{name}", tenant="t1", segment="default"
    )
    return record.ready((ipaddress.ip_address(address),))


EXCEPTION = {
    "dst": "10.1.16.7/32",
    "via": "192.0.2.2",
    "reason": "moved from host h1 to host h2",
    "moved_from": "h1",
}


def test_the_origin_host_installs_the_exception_route_into_its_own_prefix() -> None:
    hv = host_view(
        routes=[{"dst": "10.2.0.0/16", "via": "192.0.2.2", "reason": "host h2"}, EXCEPTION]
    )
    made = desired.host_plan(hv, [], mtu=1500, live_netns=set())
    assert [(str(r.dst), str(r.via)) for r in made.plan.routes] == [
        ("10.1.16.7/32", "192.0.2.2"),
        ("10.2.0.0/16", "192.0.2.2"),
    ]
    # A route into the own prefix that is no exception is still refused.
    plain = {**EXCEPTION, "dst": "10.1.16.0/24", "moved_from": None}
    assert (
        desired.host_plan(host_view(routes=[plain]), [], mtu=1500, live_netns=set()).plan.routes
        == ()
    )


def test_an_endpoint_still_here_keeps_its_address_until_it_leaves() -> None:
    hv = host_view(routes=[EXCEPTION])
    made = desired.host_plan(hv, [ready("vm", "10.1.16.7")], mtu=1500, live_netns={"/run/netns/vm"})
    assert made.plan.routes == ()
    assert [e.id for e in made.plan.endpoints] == ["vm:eth0"]
    assert made.skipped == (
        "route to 10.1.16.7/32 via 192.0.2.2: an endpoint of this host holds the address",
    )


def test_an_endpoint_that_moved_here_uses_this_hosts_gateway_of_its_network() -> None:
    hv = host_view()  # host h1, 10.1.0.0/16: the address below is of h2's prefix
    made = desired.host_plan(hv, [ready("vm", "10.2.16.7")], mtu=1500, live_netns={"/run/netns/vm"})
    assert [(e.id, [str(g) for g in e.gateways]) for e in made.plan.endpoints] == [
        ("vm:eth0", ["10.1.0.1"])
    ]
    assert made.skipped == ()


def test_host_plans_take_host_routes_inside_the_own_prefix() -> None:
    gateway = hostplan.GatewaySpec((ipaddress.ip_interface("10.1.0.1/16"),))
    route = hostplan.RouteSpec(
        ipaddress.ip_network("10.1.16.7/32"), ipaddress.ip_address("192.0.2.2")
    )
    assert hostplan.plan(gateway, [route], [], mtu=1500).routes == (route,)
