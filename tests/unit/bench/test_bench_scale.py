"""The claims docs/benchmarks.md makes from ``bench.scale``, checked at a tiny size.

The benchmark computes its figures with romana's own topology, route-plan, BGP-plan,
host-view and policy code; these tests run the same computation on small inputs and check
what the report's chart and caption say: routes grow with racks, not hosts, and a host's
firewall rules do not grow with its endpoints.
"""

from __future__ import annotations

from bench import scale


def test_routes_per_host_in_racks_are_fewer_than_per_node_routing() -> None:
    found = scale.routes(100)

    # h0's rack mates (39) plus one aggregate per other rack (2 of 3 racks).
    assert found.host_routes == 41
    assert found.host_routes < scale.per_node(100)[0]
    assert found.host_routes < scale.per_block(100, 100)[0]


def test_the_spine_holds_one_route_per_rack_and_a_tor_its_rack_plus_the_others() -> None:
    found = scale.routes(100)

    assert found.spine_routes == 3
    # 40 host prefixes and the rack's aggregate, plus the two other racks' aggregates.
    assert found.tor_routes == 43
    assert found.tor_routes < scale.per_node(100)[1]


def test_firewall_rules_do_not_change_from_100_to_1000_endpoints() -> None:
    measured = scale.by_endpoints(10, [100, 1000], tenants=20, policy_count=40, present=10)

    few, many = measured
    assert (few.endpoints, many.endpoints) == (100, 1000)
    assert few.carried_policies == many.carried_policies == 20  # those the 10 tenants own
    assert few.rules > 0
    assert many.rules == few.rules
    assert many.view_bytes > few.view_bytes  # the view lists the endpoints; the rules do not


def test_reference_schemes_follow_their_documented_counts() -> None:
    assert scale.per_node(5000) == (4999, 5000)
    # 100 endpoints need two 64-address blocks; no endpoint still takes one block.
    assert scale.per_block(10, 100) == (18, 20)
    assert scale.per_block(10, 0) == (9, 10)
