"""External routes: an external address is reached from every other host straight at the host
whose endpoint holds it, by that host's underlay address of its family."""

from __future__ import annotations

import ipaddress

from romana.core import hostroutes, routeplan, topology
from romana.core.identifiers import HostName, NetworkName
from unit.core.test_routeplan import zones

A1 = HostName("a1")
A2 = HostName("a2")
B1X = HostName("b1x")
B3 = HostName("b3")
EXT4 = ipaddress.ip_address("203.0.113.7")
EXT6 = ipaddress.ip_address("2001:db8:e::7")
UNDERLAY = {A1: 1, A2: 2, HostName("b1"): 3, B1X: 4, B3: 5}


def external_plans(
    topo: topology.Topology, placed: list[hostroutes.Placed]
) -> dict[str, routeplan.RoutePlan]:
    return {
        name: hostroutes.with_externals(plan, topo, placed)
        for name, plan in routeplan.plans(topo).items()
    }


def pool_routes(plan: routeplan.RoutePlan) -> list[routeplan.Route]:
    return [r for r in plan.routes if r.pool is not None]


def test_every_other_host_routes_an_external_address_to_the_host_holding_it() -> None:
    topo = zones()
    placed = [
        hostroutes.Placed(EXT6, "edge6", A2),
        hostroutes.Placed(EXT4, "edge", B3),
    ]
    plans = external_plans(topo, placed)
    for name, plan in plans.items():
        for address, holder, length, pool in [(EXT4, B3, 32, "edge"), (EXT6, A2, 128, "edge6")]:
            route = plan.lookup(address)
            if name == holder:
                # the holder routes it to its endpoint itself
                assert route is None, name
                continue
            hop = (
                f"192.0.2.{UNDERLAY[holder]}"
                if address.version == 4
                else f"2001:db8::{UNDERLAY[holder]}"
            )
            assert route is not None, name
            assert (str(route.dst), str(route.via), route.via_host, route.pool) == (
                f"{address}/{length}",
                hop,
                holder,
                pool,
            ), name
            assert (route.network, route.group, route.moved_from) == (pool, None, None)
    # routes come after the plan's own, IPv4 first, and change none of them
    base = routeplan.plans(topo)[A1]
    assert plans[A1].routes[: len(base.routes)] == base.routes
    assert [str(r.dst) for r in pool_routes(plans[A1])] == ["203.0.113.7/32", "2001:db8:e::7/128"]
    assert plans[A1].skipped == base.skipped


def test_the_holders_own_plan_has_no_route_for_its_address() -> None:
    topo = zones()
    plan = external_plans(topo, [hostroutes.Placed(EXT4, "edge", B3)])[B3]
    assert pool_routes(plan) == []
    assert plan == routeplan.plans(topo)[B3]


def test_no_placed_address_leaves_every_plan_as_it_was() -> None:
    topo = zones()
    assert external_plans(topo, []) == routeplan.plans(topo)


def test_a_holder_without_an_underlay_address_of_the_family_is_skipped_with_the_reason() -> None:
    topo = zones(without_ip6=("b3",))
    placed = [hostroutes.Placed(EXT6, "edge6", B3), hostroutes.Placed(EXT4, "edge", B3)]
    plan = external_plans(topo, placed)[A2]
    assert [str(r.dst) for r in pool_routes(plan)] == ["203.0.113.7/32"]
    skipped = plan.skipped[-1]
    assert (skipped.network, str(skipped.dst), skipped.reason, skipped.host) == (
        NetworkName("edge6"),
        "2001:db8:e::7/128",
        "host b3 has no IPv6 underlay address",
        B3,
    )


def test_a_plan_host_without_an_underlay_address_of_the_family_says_so() -> None:
    topo = zones(without_ip6=("a1",))
    plan = external_plans(topo, [hostroutes.Placed(EXT6, "edge6", A2)])[A1]
    assert pool_routes(plan) == []
    assert [(str(x.dst), x.reason) for x in plan.skipped][-1] == (
        "2001:db8:e::7/128",
        "host a1 has no IPv6 underlay address",
    )
    # the other hosts route it as ever
    assert external_plans(topo, [hostroutes.Placed(EXT6, "edge6", A2)])[B3].lookup(EXT6)


def test_an_address_of_a_host_no_longer_in_the_topology_gets_no_route() -> None:
    topo = topology.remove_host(zones(), B1X)
    plans = external_plans(topo, [hostroutes.Placed(EXT4, "edge", B1X)])
    assert B1X not in plans
    for name, plan in plans.items():
        assert pool_routes(plan) == [], name
        assert plan == routeplan.plans(topo)[name], name


def test_the_plan_and_its_routes_round_trip_with_the_pool() -> None:
    topo = zones()
    plans = external_plans(topo, [hostroutes.Placed(EXT4, "edge", B3)])
    for plan in plans.values():
        assert routeplan.RoutePlan.from_dict(plan.to_dict()) == plan
    (route,) = pool_routes(plans[A1])
    assert route.to_dict()["pool"] == "edge"
    assert routeplan.Route.from_dict(route.to_dict()) == route
    # a route stored before pools existed reads as one of no pool
    plain = plans[A1].routes[0].to_dict()
    assert plain["pool"] is None
    del plain["pool"]
    assert routeplan.Route.from_dict(plain).pool is None
