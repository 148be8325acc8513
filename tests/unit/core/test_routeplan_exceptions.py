"""Exception routes: an address living on another host than it encodes, in every host's plan."""

from __future__ import annotations

import ipaddress

from romana.core import hostroutes, routeplan, topology
from romana.core.identifiers import HostName
from unit.core.test_routeplan import follow, zones

A1 = HostName("a1")
A2 = HostName("a2")
B1 = HostName("b1")
B3 = HostName("b3")


def moved_plans(
    topo: topology.Topology, moved: list[hostroutes.Moved]
) -> dict[str, routeplan.RoutePlan]:
    return {
        name: hostroutes.with_exceptions(plan, topo, moved)
        for name, plan in routeplan.plans(topo).items()
    }


def address_of(topo: topology.Topology, host: HostName, network: str, last: int) -> str:
    """An endpoint address inside ``host``'s prefix of ``network``."""
    prefix = next(p.prefix for p in topology.placement(topo, host).prefixes if p.network == network)
    return str(prefix.network_address + (1 << 12) + last)


def test_every_other_host_routes_a_moved_address_straight_to_the_host_it_lives_on() -> None:
    topo = zones()
    v4 = address_of(topo, A1, "pods-v4", 1)
    v6 = address_of(topo, A1, "pods-v6", 1)
    moved = [hostroutes.Moved("vm1", B3, A1, (ipaddress.ip_address(v4), ipaddress.ip_address(v6)))]
    plans = moved_plans(topo, moved)
    for name, plan in plans.items():
        if name == B3:
            continue
        for addr, length, hop in [(v4, 32, "192.0.2.5"), (v6, 128, "2001:db8::5")]:
            route = plan.lookup(addr)
            assert route is not None
            assert (str(route.dst), str(route.via), route.via_host, route.moved_from) == (
                f"{addr}/{length}",
                hop,
                B3,
                A1,
            ), name
    # The origin host, too, sends it on: longest-prefix match beats its own prefix.
    assert not plans[A1].owns(v4)
    assert follow(plans, A1, v4) == [A1, B3]
    assert follow(plans, A2, v6) == [A2, B3]


def test_the_host_it_lives_on_routes_it_locally_not_to_the_origin_host() -> None:
    topo = zones()
    v4 = address_of(topo, A1, "pods-v4", 1)
    plan = moved_plans(topo, [hostroutes.Moved("vm1", B3, A1, (ipaddress.ip_address(v4),))])[B3]
    assert plan.lookup(v4) is None
    assert plan.owns(v4)
    assert [r for r in plan.routes if r.moved_from is not None] == []
    assert plan.moved_here == (ipaddress.ip_address(v4),)


def test_without_moves_the_plans_are_unchanged_and_other_addresses_of_the_prefix_stay() -> None:
    topo = zones()
    v4 = address_of(topo, A1, "pods-v4", 1)
    other = address_of(topo, A1, "pods-v4", 2)
    assert moved_plans(topo, []) == routeplan.plans(topo)
    plans = moved_plans(topo, [hostroutes.Moved("vm1", B1, A1, (ipaddress.ip_address(v4),))])
    assert follow(plans, B3, other) == follow(routeplan.plans(topo), B3, other)
    assert plans[A1].owns(other)


def test_a_host_without_an_address_of_the_family_is_skipped_with_the_reason() -> None:
    topo = zones(without_ip6=("b3",))
    v6 = address_of(topo, A1, "pods-v6", 1)
    plan = moved_plans(topo, [hostroutes.Moved("vm1", B3, A1, (ipaddress.ip_address(v6),))])[A2]
    assert [r for r in plan.routes if r.moved_from is not None] == []
    assert [(str(x.dst), x.reason, x.host) for x in plan.skipped][-1] == (
        f"{v6}/128",
        "host b3 has no IPv6 underlay address",
        B3,
    )


def test_the_plan_round_trips_with_its_exceptions() -> None:
    topo = zones()
    v4 = ipaddress.ip_address(address_of(topo, A1, "pods-v4", 1))
    plans = moved_plans(topo, [hostroutes.Moved("vm1", B3, A1, (v4,))])
    for plan in plans.values():
        assert routeplan.RoutePlan.from_dict(plan.to_dict()) == plan
